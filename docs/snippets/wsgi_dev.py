"""The quick start with its settings from the environment, so `pomerium-wsgi dev` runs it."""

import os

from pomerium_wsgi import PomeriumMiddleware, Verifier, get_identity


def hello(environ, start_response):
    identity = get_identity(environ)
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [f"Hello, {identity.email}\n".encode()]


verifier = Verifier(
    os.environ.get("POMERIUM_AUDIENCE", "app.example.com"),
    jwks_url=os.environ.get("POMERIUM_JWKS_URL"),  # None: Pomerium's URL for the audience
)
app = PomeriumMiddleware(hello, verifier)
