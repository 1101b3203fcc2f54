"""Bottle example app protected by bottle_pomerium."""
