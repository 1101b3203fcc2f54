"""What runs before any of the app's own code: the WSGI wrapper and its helpers.

Flask runs some of an app's code before the first ``before_request`` hook: the session
interface and URL converters (while the request context is pushed), then receivers of
``request_started`` and ``url_value_preprocessor`` functions. Had the claim headers been
removed and the token verified only in a hook, that code would see a forged
``X-Pomerium-Claim-Email`` and no identity. So the extension removes the unsigned headers
in :class:`PomeriumWSGIGate`, around ``app.wsgi_app``, before Flask sees the request, and
verifies at the start of ``full_dispatch_request``: inside the request context (so
receivers of ``identity_verified`` / ``verification_failed`` can use ``g`` and
``request``), before ``request_started``. Its ``before_request`` hook then only answers,
through the app's error handlers, from what was recorded.

Also here: the requirement that guards Flask's automatic ``OPTIONS`` answers.
"""

from __future__ import annotations

import typing as t

from flask import Flask

from pomerium_wsgi import ERROR_KEY, IDENTITY_KEY, Requirement, strip_claim_headers
from pomerium_wsgi.authz import AnyOf

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class PomeriumWSGIGate:
    """Wraps ``app.wsgi_app``: removes ``X-Pomerium-Claim-*`` and any identity from the
    environ, then calls the wrapped app.

    Installed by :meth:`flask_pomerium.Pomerium.init_app`, so nothing of the app (session
    interface, URL converters, signal receivers, hooks) can see forged claim headers.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> t.Iterable[bytes]:
        forget_claim_headers(environ)
        return self.wsgi_app(environ, start_response)


def forget_claim_headers(environ: WSGIEnvironment) -> None:
    """Remove ``X-Pomerium-Claim-*`` (unsigned: nothing may mistake them for an identity)
    and any identity from the environ, as for a request that is not verified."""
    strip_claim_headers(environ)
    environ[IDENTITY_KEY] = None
    environ[ERROR_KEY] = None


def is_static_endpoint(app: Flask, endpoint: str | None) -> bool:
    """True if *endpoint* is the static file route of *app* or of one of its blueprints."""
    if not endpoint:
        return False
    blueprint, _, name = endpoint.rpartition(".")
    if name != "static":
        return False
    if not blueprint:
        return app.has_static_folder
    owner = app.blueprints.get(blueprint)
    return owner is not None and owner.has_static_folder


def _requirement_of(function: object) -> Requirement | None:
    requirement = getattr(function, "pomerium_requirement", None)
    return requirement if isinstance(requirement, Requirement) else None


def options_requirement(view: object) -> Requirement | None:
    """The requirement Flask's automatic ``OPTIONS`` answer for *view* must meet.

    Flask answers ``OPTIONS`` itself, listing the methods in ``Allow``, without calling
    the view, so the view's decorator never runs. A guarded view function (or a guarded
    ``View`` class) gives its requirement; a ``MethodView`` whose every method is guarded
    gives "any of them". A view with an unguarded method reveals nothing by ``OPTIONS``
    that its open method does not, and gets None.
    """
    requirement = _requirement_of(view)
    if requirement is not None:
        return requirement
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return None
    requirement = _requirement_of(getattr(view_class, "dispatch_request", None))
    if requirement is not None:
        return requirement
    methods = [m for m in (getattr(view_class, "methods", None) or ())
               if m not in ("OPTIONS", "HEAD")]
    guards = [_requirement_of(getattr(view_class, m.lower(), None)) for m in methods]
    if not guards or any(g is None for g in guards):
        return None
    return AnyOf(*t.cast(list[Requirement], guards))
