"""A plain WSGI app protected by pomerium-wsgi: no framework, three lines of setup.

Settings come from the environment, so the same app runs behind a real Pomerium and on a
laptop under ``pomerium-wsgi dev``:

``POMERIUM_AUDIENCE``  this app's host as Pomerium routes to it (default app.example.com)
``POMERIUM_JWKS_URL``  where the keys are (default: Pomerium's URL for that host)
"""

from __future__ import annotations

import html
import json
import os
import typing as t

from pomerium_wsgi import PomeriumMiddleware, Verifier, get_identity, protect, require_group

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def home(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Show who the verified token says the user is."""
    identity = get_identity(environ)
    assert identity is not None  # the middleware refuses requests without one
    if "json" in environ.get("HTTP_ACCEPT", ""):
        body = json.dumps({"email": identity.email, "groups": list(identity.groups),
                           "subject": identity.subject,
                           "expires_at": identity.expires_at.isoformat()}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(str(value))}</td></tr>"
        for label, value in [("email", identity.email), ("name", identity.name),
                             ("groups", ", ".join(identity.groups) or "(none)"),
                             ("subject", identity.subject), ("issuer", identity.issuer),
                             ("expires", identity.expires_at.isoformat())]
    )
    page = (f"<!doctype html><title>pomerium-wsgi demo</title><h1>Hello, "
            f"{html.escape(identity.name or identity.email)}</h1><p>This identity came from a "
            f"verified Pomerium JWT.</p><table>{rows}</table>"
            f"<p><a href='/admin'>/admin</a> needs the group <code>admins</code>.</p>")
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [page.encode()]


def admin(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    identity = get_identity(environ)
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [f"Welcome to the admin area, {identity}.\n".encode()]


def healthz(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]


_admin = protect(admin, require_group("admins"))


def router(environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    if path == "/healthz":
        return healthz(environ, start_response)
    if path == "/admin":
        return _admin(environ, start_response)
    return home(environ, start_response)


verifier = Verifier(
    os.environ.get("POMERIUM_AUDIENCE", "app.example.com"),
    jwks_url=os.environ.get("POMERIUM_JWKS_URL") or None,
)
app = PomeriumMiddleware(router, verifier, exempt=["/healthz"])
