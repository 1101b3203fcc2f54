"""Metrics and an audit log from the signals."""

import logging
from collections import Counter

from pomerium_wsgi import signals

audit_log = logging.getLogger("audit")
outcomes = Counter()  # export these with your metrics library (Prometheus, StatsD, ...)


@signals.verification_failed.connect
def on_failed(sender, error, environ):
    outcomes[f"refused_{error.reason}"] += 1  # expired, signature, unknown_key, ...


@signals.identity_verified.connect
def on_verified(sender, identity, environ):
    outcomes["verified"] += 1
    audit_log.info("user=%s sub=%s path=%s", identity.email, identity.subject,
                   environ.get("PATH_INFO"))  # never log identity.token


@signals.access_denied.connect
def on_denied(sender, identity, requirement, environ):
    audit_log.warning("denied user=%s requirement=%s", identity.email, requirement)


@signals.keys_refreshed.connect
def on_keys(sender, url, key_ids):
    outcomes["jwks_refreshed"] += 1  # the key ids in use are in key_ids


@signals.keys_refresh_failed.connect
def on_keys_failed(sender, url, error):
    outcomes["jwks_refresh_failed"] += 1  # JWKS endpoint or cache trouble
