"""The hello-world WSGI app that bench_gunicorn.py serves, bare and behind the middleware.

``gunicorn gunicorn_app:hello`` serves it bare; ``gunicorn 'gunicorn_app:protected()'``
builds the protected app in each worker (as a real deployment would, so each worker has
its own verifier, key cache and token cache), with settings from the environment:

* ``POMERIUM_AUDIENCE``: the route host (default ``app.example.com``);
* ``POMERIUM_JWKS_URL``: where to fetch keys, or
* ``POMERIUM_BENCH_JWKS_FILE``: a JWKS document on disk, used as static keys instead.
"""

from __future__ import annotations

import os
import typing as t

from pomerium_wsgi import PomeriumMiddleware, Verifier

BODY = b"Hello, world!\n"


def hello(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
    """The cheapest reasonable WSGI app, so the middleware's cost stands out."""
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]


def protected() -> PomeriumMiddleware:
    """The same app behind PomeriumMiddleware (a gunicorn app factory)."""
    audience = os.environ.get("POMERIUM_AUDIENCE", "app.example.com")
    jwks_file = os.environ.get("POMERIUM_BENCH_JWKS_FILE")
    if jwks_file:
        with open(jwks_file, encoding="utf-8") as f:
            verifier = Verifier(audience, jwks=f.read())
    else:
        verifier = Verifier(audience, jwks_url=os.environ.get("POMERIUM_JWKS_URL"))
    return PomeriumMiddleware(hello, verifier)
