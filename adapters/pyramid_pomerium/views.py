"""The forbidden view, the view requirement options and the tween.

Pyramid raises ``HTTPForbidden`` both when nobody is signed in and when the signed-in user
lacks a permission. Those are different answers: 401 means "no valid Pomerium token"
(usually a request that bypassed Pomerium, or a key problem: 503), 403 means "we know who
you are and you may not". :func:`forbidden_view` tells them apart by whether the request
has a verified identity, and renders either as the core's problem document (RFC 9457
JSON or plain text by ``Accept``; never the token).
"""

from __future__ import annotations

import typing as t

from pyramid.httpexceptions import HTTPForbidden
from pyramid.interfaces import ISecurityPolicy
from pyramid.response import Response
from pyramid.viewderivers import INGRESS

from pomerium_wsgi import (
    Identity,
    MissingToken,
    Requirement,
    get_error,
    require_group,
    strip_claim_headers,
)
from pomerium_wsgi.middleware import environ_is_cors_preflight
from pomerium_wsgi.problem import render
from pomerium_wsgi.settings import coerce
from pomerium_wsgi.signals import access_denied, send_safely

from .errors import ConfigurationError
from .policy import CHECKED_KEY, EXEMPTED


def request_identity(request: t.Any) -> Identity | None:
    """``request.identity`` if it is a verified Pomerium identity, else None."""
    identity = request.identity
    return identity if isinstance(identity, Identity) else None


def problem_response(
    request: t.Any,
    status: int,
    reason: str,
    detail: str,
    extra_headers: t.Iterable[tuple[str, str]] = (),
) -> Response:
    """The core's refusal (HTML, problem+json or text by ``Accept``) as a Pyramid response."""
    status_line, headers, body = render(request.environ, status, reason, detail,
                                        extra_headers)
    return Response(body=body, status=status_line, headerlist=headers)


def _requirement_of(exc: t.Any) -> tuple[object, str]:
    """What the denied check asked for: (signal value, wording for the 403 detail)."""
    result = getattr(exc, "result", None)
    if isinstance(result, Requirement):
        return result, f"access requires {result}"
    permission = getattr(result, "permission", None)
    if permission is not None:
        return permission, f"access requires the permission {permission!r}"
    return None, "access is not permitted"


def forbidden_view(exc: t.Any, request: t.Any) -> Response:
    """401 (503 when the keys are unavailable) without a verified identity, else 403.

    The 401 carries the verification reason code (``missing``, ``expired``,
    ``signature``, ...); the 403 names the permission or requirement that failed and
    sends the ``access_denied`` signal with ``sender=request.registry`` and
    ``requirement`` = the :class:`~pomerium_wsgi.Requirement`, or the permission name for
    an ACL denial.
    """
    identity = request_identity(request)
    if identity is None:
        error = get_error(request.environ) or MissingToken()
        extra = [("Retry-After", "5")] if error.status == 503 else []
        return problem_response(request, error.status, error.reason, error.message, extra)
    requirement, detail = _requirement_of(exc)
    send_safely(access_denied, request.registry, identity=identity,
                requirement=requirement, environ=request.environ)
    return problem_response(request, 403, "forbidden", detail)


# -- view options: pomerium_requirement= and pomerium_groups= ------------------------

def view_requirement(options: t.Mapping[str, t.Any]) -> Requirement | None:
    """The requirement a view's ``pomerium_requirement`` / ``pomerium_groups`` ask for.

    Both may be given; then both must hold. ``pomerium_groups`` is one group name or an
    iterable of them (membership of any). Bad values raise ConfigurationError when the
    view is registered, not when a request arrives.
    """
    parts: list[Requirement] = []
    requirement = options.get("pomerium_requirement")
    if requirement is not None:
        if not isinstance(requirement, Requirement):
            raise ConfigurationError(
                "pomerium_requirement must be a pomerium_wsgi Requirement, "
                "e.g. require_group('admins')"
            )
        parts.append(requirement)
    groups = options.get("pomerium_groups")
    if groups is not None:
        names = (groups,) if isinstance(groups, str) else groups
        try:
            parts.append(require_group(*names))
        except TypeError:
            raise ConfigurationError(
                "pomerium_groups must be a group name or a list of group names"
            ) from None
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part
    return combined


def requirement_view_deriver(view: t.Any, info: t.Any) -> t.Any:
    """Wrap views registered with ``pomerium_requirement=`` / ``pomerium_groups=``.

    These are view *options*, not predicates: a predicate that does not match makes
    Pyramid look for another view and end in 404, while an authorization failure must
    be a 401 or 403. The wrapper raises ``HTTPForbidden`` (``result`` = the requirement)
    and :func:`forbidden_view` answers it.
    """
    requirement = view_requirement(info.options)
    if requirement is None:
        return view

    def pomerium_requirement_view(context: t.Any, request: t.Any) -> t.Any:
        identity = request_identity(request)
        if identity is None:
            raise HTTPForbidden("a verified identity is required", result=requirement)
        if not requirement(identity):
            raise HTTPForbidden(f"access requires {requirement}", result=requirement)
        return view(context, request)

    pomerium_requirement_view.requirement = requirement  # type: ignore[attr-defined]
    return pomerium_requirement_view


requirement_view_deriver.options = (  # type: ignore[attr-defined]
    "pomerium_requirement",
    "pomerium_groups",
)


# -- view-level exemption: pomerium_exempt= -------------------------------------------

def exemption_view_deriver(view: t.Any, info: t.Any) -> t.Any:
    """Verify a *named* view reached under an exempt path, unless it opts in.

    In a traversal app a path names a resource and, possibly, a view of it:
    ``/public/export`` and ``/public/@@export`` are the view ``export`` of the resource
    at ``/public``, and a view registered with ``name="export"`` for any context answers
    them. A path prefix cannot tell "the public files" from "a view that happens to be
    reachable below them", so an exempt prefix exempts only views reached with an empty
    view name; a named view there is verified (and refused without identity, unless
    ``pomerium.optional``) unless registered with ``pomerium_exempt=True``. Outside the
    exempt prefixes the tween verifies every request before routing, so the option
    opens nothing there.
    """
    if info.exception_only:
        return view
    opt_in = info.options.get("pomerium_exempt")
    if opt_in is not None and not isinstance(opt_in, bool):
        raise ConfigurationError("pomerium_exempt must be True or False")
    if opt_in:
        return view
    optional = flag_setting(info.registry.settings or {}, "optional")

    def pomerium_exempt_view(context: t.Any, request: t.Any) -> t.Any:
        if (request.view_name and request.environ.get(CHECKED_KEY) == EXEMPTED
                and getattr(request, "exception", None) is None):
            verify = getattr(request.registry.queryUtility(ISecurityPolicy),
                             "verify_exempted", None)
            identity = verify(request) if verify is not None else None
            if identity is None and not optional:
                raise HTTPForbidden("a verified identity is required")
        return view(context, request)

    return pomerium_exempt_view


exemption_view_deriver.options = ("pomerium_exempt",)  # type: ignore[attr-defined]
#: Where :func:`exemption_view_deriver` goes: outside the permission check, so that a
#: named view's permission is checked against the verified identity.
EXEMPTION_DERIVER_PLACE = {"under": INGRESS, "over": "secured_view"}


# -- the tween ---------------------------------------------------------------------

def flag_setting(settings: t.Mapping[str, t.Any], name: str) -> bool:
    """``pomerium.<name>`` as a bool (default False).

    ``includeme`` records there the value in effect (from the file or the environment).
    Stricter than ``asbool``: a typo such as ``ture`` raises ConfigurationError (a
    ValueError) instead of quietly meaning false, so a mistake is seen at configuration
    time.
    """
    value = settings.get(f"pomerium.{name}")
    return False if value is None else bool(coerce(name, value, label=f"pomerium.{name}"))


def optional_setting(settings: t.Mapping[str, t.Any]) -> bool:
    """``pomerium.optional`` as a bool (default False); see :func:`flag_setting`."""
    return flag_setting(settings, "optional")


def claim_headers_tween_factory(handler: t.Callable[[t.Any], t.Any], registry: t.Any
                                ) -> t.Callable[[t.Any], t.Any]:
    """Remove ``X-Pomerium-Claim-*`` headers before any other tween runs.

    The verifying tween sits under Pyramid's exception view (its refusals are rendered
    by the forbidden view), and the app's own tweens are placed above that by default:
    they saw a forged ``X-Pomerium-Claim-Email``. ``includeme`` puts this one at the top
    (``under=INGRESS``); the verifying tween removes them again, for apps that add it
    without this one.
    """

    def pomerium_claim_headers_tween(request: t.Any) -> t.Any:
        strip_claim_headers(request.environ)
        return handler(request)

    return pomerium_claim_headers_tween


def pomerium_tween_factory(handler: t.Callable[[t.Any], t.Any], registry: t.Any
                           ) -> t.Callable[[t.Any], t.Any]:
    """Remove ``X-Pomerium-Claim-*`` headers and verify every request outside the exempt
    paths; unless ``pomerium.optional``, refuse one that has no verified identity. With
    ``pomerium.cors_preflight``, a CORS preflight passes unverified, with no identity.

    Refusing in a tween, before routing, means an unauthenticated client learns nothing
    about which URLs exist. The refusal is an ``HTTPForbidden`` raised under Pyramid's
    exception-view tween, so :func:`forbidden_view` (or an app's own forbidden view)
    renders it.
    """
    optional = optional_setting(registry.settings or {})
    cors_preflight = flag_setting(registry.settings or {}, "cors_preflight")

    def pomerium_tween(request: t.Any) -> t.Any:
        environ = request.environ
        strip_claim_headers(environ)
        if cors_preflight and environ_is_cors_preflight(environ):
            # Served unverified, with no identity: nothing will verify it later.
            environ.update({CHECKED_KEY: True, "pomerium.identity": None,
                            "pomerium.error": None})
            return handler(request)
        policy = registry.queryUtility(ISecurityPolicy)
        is_exempt = getattr(policy, "is_exempt", None)
        exempt = is_exempt is not None and is_exempt(environ.get("PATH_INFO", ""))
        if exempt:
            request_identity(request)  # records the request as exempted (no identity)
        else:
            # Resolve the identity here in optional mode too (once per request: the
            # policy caches it), so identity_verified / verification_failed are sent
            # for every verified request, as the core middleware does, not only when a
            # view happens to read request.identity.
            identity = request_identity(request)
            if identity is None and not optional:
                raise HTTPForbidden("a verified identity is required")
        return handler(request)

    return pomerium_tween
