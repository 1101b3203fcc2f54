# myapp.py
from pomerium_wsgi import PomeriumMiddleware, Verifier, get_identity, protect, require_group


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"Hello, {get_identity(environ).email}".encode()]


def router(environ, start_response):  # the app, before PomeriumMiddleware wraps it
    if environ["PATH_INFO"] == "/admin":
        return admin(environ, start_response)
    return hello(environ, start_response)


admin = protect(hello, require_group("admins"))


def create_app(verifier=None):
    return PomeriumMiddleware(router, verifier or Verifier.from_env(audience="app.example.com"))
