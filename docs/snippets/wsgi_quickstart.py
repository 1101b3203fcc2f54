"""Any WSGI app behind PomeriumMiddleware: the three-line wrap."""

from pomerium_wsgi import PomeriumMiddleware, Verifier, get_identity


def hello(environ, start_response):
    identity = get_identity(environ)  # verified: everyone else got 401 before this ran
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [f"Hello, {identity.email}\n".encode()]


# The route's host in Pomerium; the other settings come from POMERIUM_* variables, if set.
app = PomeriumMiddleware(hello, Verifier.from_env(audience="app.example.com"))
