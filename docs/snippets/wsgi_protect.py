"""Guard part of a WSGI app with a requirement."""

from pomerium_wsgi import (
    PomeriumMiddleware,
    Verifier,
    get_identity,
    protect,
    require_email_domain,
    require_group,
)


def admin_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"Welcome, {get_identity(environ).email}\n".encode()]


admin_app = protect(admin_app, require_group("admins") & require_email_domain("example.com"))
app = PomeriumMiddleware(admin_app, Verifier("app.example.com"))
