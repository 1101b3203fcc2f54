"""A health check the load balancer can reach without a token, even in a JWKS outage."""

from pomerium_wsgi import PomeriumMiddleware, Verifier


def router(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n" if environ["PATH_INFO"].startswith("/healthz") else b"app\n"]


verifier = Verifier("app.example.com")
app = PomeriumMiddleware(router, verifier, exempt=["/healthz"])  # /healthz and /healthz/...
