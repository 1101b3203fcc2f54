"""A tiny WSGI app for the ``pomerium-wsgi dev`` end-to-end test.

It follows the examples' convention: its verifier is built from ``POMERIUM_AUDIENCE`` and
``POMERIUM_JWKS_URL`` at import time, so it only works if ``dev`` sets them first. It
echoes the verified identity (and where its keys came from) as JSON.
"""

from __future__ import annotations

import json
import os
import typing as t

from pomerium_wsgi import PomeriumMiddleware, Verifier, get_identity

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    identity = get_identity(environ)
    assert identity is not None  # the middleware refuses requests without one
    body = json.dumps({
        "email": identity.email,
        "groups": list(identity.groups),
        "claims": dict(identity.claims),
        "remote_user": environ.get("REMOTE_USER"),
        "keys": repr(verifier.keys),
        "jwks_url": os.environ["POMERIUM_JWKS_URL"],
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


verifier = Verifier(os.environ["POMERIUM_AUDIENCE"], jwks_url=os.environ["POMERIUM_JWKS_URL"])
app = PomeriumMiddleware(echo, verifier)
