"""An audit log from the library's signals: one JSON line per decision, to ``audit``.

The receivers never see the token: they log the reason code of a refusal, the email of a
verified identity and the requirement that failed.
"""

import json
import logging
import typing as t

from pomerium_wsgi.signals import access_denied, identity_verified, verification_failed

log = logging.getLogger("audit")


def _path(environ: t.Mapping[str, t.Any]) -> str:
    return str(environ.get("PATH_INFO", ""))


def on_verified(sender: object, identity: t.Any, environ: t.Any, **extra: t.Any) -> None:
    log.info(json.dumps({"event": "verified", "who": identity.email,
                         "path": _path(environ)}))


def on_failed(sender: object, error: t.Any, environ: t.Any, **extra: t.Any) -> None:
    log.info(json.dumps({"event": "refused", "why": error.reason, "path": _path(environ)}))


def on_denied(sender: object, identity: t.Any, requirement: t.Any, environ: t.Any,
              **extra: t.Any) -> None:
    log.info(json.dumps({"event": "denied", "who": identity.email,
                         "requires": str(requirement), "path": _path(environ)}))


def install() -> None:
    """Connect the receivers (blinker holds them weakly; these are module functions)."""
    identity_verified.connect(on_verified)
    verification_failed.connect(on_failed)
    access_denied.connect(on_denied)
