"""What a view reads from the verified identity, and optional mode."""

import json

from pomerium_wsgi import PomeriumMiddleware, Verifier, get_error, get_identity


def whoami(environ, start_response):
    identity = get_identity(environ)  # an Identity, or None in optional mode
    if identity is None:
        error = get_error(environ)  # why there is none: a VerificationError, or None
        body = {"anonymous": True, "reason": error.reason if error else None}
    else:
        body = {
            "email": identity.email,
            "groups": list(identity.groups),
            "subject": identity.subject,
            "name": identity.claims["name"],
            "is_admin": identity.in_group("admins"),
        }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


app = PomeriumMiddleware(whoami, Verifier("app.example.com"), optional=True)
