"""An application factory, served with ``pomerium-wsgi dev cli_factory:create_app``.

The settings come from the environment ``dev`` prepares, so the same factory runs
behind Pomerium with the real values.
"""

import json
import os

from pomerium_wsgi import PomeriumMiddleware, Verifier, get_identity


def whoami(environ, start_response):
    identity = get_identity(environ)
    body = json.dumps({"email": identity.email, "groups": list(identity.groups)})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]


def create_app(audience=None):
    verifier = Verifier(audience or os.environ["POMERIUM_AUDIENCE"],
                        jwks_url=os.environ.get("POMERIUM_JWKS_URL"))
    return PomeriumMiddleware(whoami, verifier)
