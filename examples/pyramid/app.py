"""A Pyramid app protected by pyramid_pomerium: ACLs over verified Pomerium identities.

Settings come from the .ini file (``pomerium.*``) and, overriding them, from the
environment, so the same app runs behind a real Pomerium, under ``pserve`` and on a laptop
under ``pomerium-wsgi dev examples.pyramid.app:app``:

``POMERIUM_AUDIENCE``  this app's host as Pomerium routes to it (default app.example.com)
``POMERIUM_JWKS_URL``  where the keys are (default: Pomerium's URL for that host)

Serve it with ``pserve examples/pyramid/development.ini`` or any WSGI server, e.g.
``python -m waitress --listen=127.0.0.1:6543 examples.pyramid.app:app``.
"""

from __future__ import annotations

import html
import os
import typing as t

from pyramid.authorization import DENY_ALL, Allow, Authenticated
from pyramid.config import Configurator
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

from pomerium_wsgi import Identity


class Root:
    """The ACL root of every URL: who may do what, by Pomerium principal.

    Principals come from the verified token: ``system.Authenticated``, ``user:<sub>``,
    ``email:<email>`` (lower-cased) and ``group:<name>``. Anything not allowed here is
    denied (``DENY_ALL``), and a denial is a 403 for a verified user, a 401 otherwise.
    """

    __acl__: t.ClassVar[list[t.Any]] = [
        (Allow, Authenticated, "view"),
        (Allow, "group:admins", ("view", "admin")),
        (Allow, "email:ops@example.com", "admin"),
        DENY_ALL,
    ]

    def __init__(self, request: t.Any) -> None:
        self.request = request


def _identity(request: t.Any) -> Identity:
    identity = request.identity
    assert isinstance(identity, Identity)  # the views below all need a permission
    return identity


def home(request: t.Any) -> t.Any:
    """Show who the verified token says the user is (JSON when asked for)."""
    identity = _identity(request)
    if "json" in request.headers.get("Accept", ""):
        return Response(json_body={
            "email": identity.email, "groups": list(identity.groups),
            "subject": identity.subject, "userid": request.authenticated_userid,
            "expires_at": identity.expires_at.isoformat(),
        })
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(str(value))}</td></tr>"
        for label, value in [("email", identity.email), ("name", identity.name),
                             ("groups", ", ".join(identity.groups) or "(none)"),
                             ("subject", identity.subject), ("issuer", identity.issuer),
                             ("expires", identity.expires_at.isoformat())]
    )
    page = (f"<!doctype html><title>pomerium-wsgi Pyramid demo</title><h1>Hello, "
            f"{html.escape(identity.name or identity.email)}</h1><p>This identity came from "
            f"a verified Pomerium JWT.</p><table>{rows}</table>"
            "<p><a href='/admin'>/admin</a> needs the permission <code>admin</code> "
            "(group <code>admins</code>); <a href='/reports'>/reports</a> needs the group "
            "<code>finance</code> or <code>admins</code>.</p>")
    return Response(page, content_type="text/html")


def admin(request: t.Any) -> Response:
    """Needs the ``admin`` permission: the group ``admins`` or ops@example.com."""
    return Response(f"Welcome to the admin area, {_identity(request)}.\n",
                    content_type="text/plain")


def reports(request: t.Any) -> Response:
    """Guarded by the ``pomerium_groups`` view option instead of an ACL permission."""
    return Response(f"Reports for {_identity(request)}.\n", content_type="text/plain")


def healthz(request: t.Any) -> Response:
    """Served without a token (``pomerium.exempt``), for load balancer health checks."""
    return Response("ok\n", content_type="text/plain")


def main(global_config: t.Mapping[str, t.Any] | None = None, **settings: t.Any) -> t.Any:
    """The WSGI app: PasteDeploy's ``call:`` factory, also called with no settings.

    ``POMERIUM_AUDIENCE`` and ``POMERIUM_JWKS_URL`` override the .ini values, so
    ``pomerium-wsgi dev`` and tests can point the app at a local JWKS without editing it.
    """
    settings = dict(settings)
    settings["pomerium.audience"] = (os.environ.get("POMERIUM_AUDIENCE")
                                     or settings.get("pomerium.audience") or "app.example.com")
    jwks_url = os.environ.get("POMERIUM_JWKS_URL")
    if jwks_url:
        settings["pomerium.jwks_url"] = jwks_url
    settings.setdefault("pomerium.exempt", "/healthz")

    config = Configurator(settings=settings, root_factory=Root)
    config.include("pyramid_pomerium")
    config.add_route("home", "/")
    config.add_route("admin", "/admin")
    config.add_route("reports", "/reports")
    config.add_route("healthz", "/healthz")
    config.add_view(home, route_name="home", permission="view")
    config.add_view(admin, route_name="admin", permission="admin")
    config.add_view(reports, route_name="reports", permission="view",
                    pomerium_groups=("finance", "admins"))
    config.add_view(healthz, route_name="healthz", permission=NO_PERMISSION_REQUIRED)
    return config.make_wsgi_app()


#: For ``waitress examples.pyramid.app:app`` and ``pomerium-wsgi dev``.
app = main({})
