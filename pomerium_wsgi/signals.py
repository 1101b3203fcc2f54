"""Blinker signals for audit logging and metrics.

Connect receivers with ``signal.connect(fn)`` (or ``connect(fn, sender=app)`` for one
application). Receivers run synchronously on the request's thread; a receiver that raises
is logged and ignored, so observability code can never change a response.
"""

from __future__ import annotations

import logging
import typing as t

from blinker import NamedSignal, Namespace

log = logging.getLogger("pomerium_wsgi.signals")

_signals = Namespace()

#: A token was verified. Keyword arguments: ``identity`` (Identity), ``environ`` (the WSGI
#: environ). ``sender`` is the middleware, or the framework app for an adapter.
identity_verified = _signals.signal("identity-verified")

#: A token was refused or missing. Keyword arguments: ``error`` (VerificationError),
#: ``environ``. Sent in optional mode too, where the request goes on as anonymous.
verification_failed = _signals.signal("verification-failed")

#: An identity failed an authorization requirement (HTTP 403). Keyword arguments:
#: ``identity``, ``requirement``, ``environ``.
access_denied = _signals.signal("access-denied")

#: A JWKS document was fetched and its keys adopted. Keyword arguments: ``url``,
#: ``key_ids`` (tuple of kids). ``sender`` is the key source.
keys_refreshed = _signals.signal("keys-refreshed")

#: Fetching or reading the JWKS failed; the last good keys are kept if any. Keyword
#: arguments: ``url``, ``error`` (the exception). ``sender`` is the key source.
keys_refresh_failed = _signals.signal("keys-refresh-failed")


def send_safely(signal: NamedSignal, sender: object, **kwargs: t.Any) -> None:
    """Send *signal*, logging and swallowing any exception a receiver raises."""
    if not signal.receivers:
        return
    for receiver in signal.receivers_for(sender):
        try:
            receiver(sender, **kwargs)
        except Exception:
            log.exception("receiver %r of signal %r raised; ignored", receiver, signal.name)
