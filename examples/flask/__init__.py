"""Flask example app protected by flask_pomerium."""
