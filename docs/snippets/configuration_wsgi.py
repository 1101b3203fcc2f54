# app.py
from pomerium_wsgi import PomeriumMiddleware, Verifier, get_identity


def router(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/healthz":  # exempt: served without a token or identity
        return [b"ok"]
    return [f"Hello, {get_identity(environ).email}".encode()]


# POMERIUM_AUDIENCE, POMERIUM_JWKS_URL or POMERIUM_JWKS, POMERIUM_LEEWAY, ...;
# keyword arguments given here win over them.
verifier = Verifier.from_env(leeway=10)
app = PomeriumMiddleware(router, verifier, exempt=["/healthz"])
