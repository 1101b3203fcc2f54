"""Authorization decorators for Bottle callbacks, which double as route requirements.

Each of ``require_identity``, ``require_group``, ... returns a :class:`RouteRequirement`:
a :class:`~pomerium_wsgi.Requirement` (so it fits ``pomerium=`` route config and combines
with ``&`` / ``|``) that is also a decorator. The two spellings are equivalent::

    @app.get("/admin", pomerium=require_group("admins"))
    def admin(): ...

    @app.get("/admin")
    @require_group("admins")
    def admin(): ...

A decorated callback answers 401 when the request has no verified identity and 403
(sending ``access_denied``) when the identity does not meet the requirement. The
identity comes from :class:`~bottle_pomerium.PomeriumPlugin`: on a route that skips the
plugin, or on an app without it, nothing is verified and the decorator always answers
401 (it fails closed).
"""

from __future__ import annotations

import functools
import inspect
import typing as t

import bottle

from pomerium_wsgi import Identity, Requirement, authz

from .refusals import current_identity, enforce

F = t.TypeVar("F", bound=t.Callable[..., t.Any])


class RouteRequirement(authz.Delegating):
    """A requirement that, called with a function instead of an identity, decorates it.

    Anything else raises TypeError rather than being decorated: the result of decorating
    is a (truthy) function, so a slip such as ``if require_group("admins")(current_identity):``
    (the ``()`` forgotten) would otherwise grant access to everyone.
    """

    @t.overload
    def __call__(self, target: Identity | None) -> bool: ...

    @t.overload
    def __call__(self, target: F) -> F: ...

    def __call__(self, target: t.Any) -> t.Any:
        if target is None or isinstance(target, Identity):
            return super().__call__(target)
        if target is current_identity:
            raise TypeError(f"{type(self).__name__} checks an Identity: call "
                            "current_identity() and pass its result")
        if not inspect.isroutine(target):
            raise TypeError(f"{type(self).__name__} decorates a function or checks an "
                            f"Identity, not {type(target).__name__}")
        return _guard(target, self.requirement)


def _guard(func: F, requirement: Requirement) -> F:
    @functools.wraps(func)
    def guarded(*args: t.Any, **kwargs: t.Any) -> t.Any:
        environ = bottle.request.environ
        route = environ.get("bottle.route")
        sender = getattr(route, "app", None) or environ.get("bottle.app")
        enforce(requirement, sender)
        return func(*args, **kwargs)

    guarded.pomerium_requirement = requirement  # type: ignore[attr-defined]
    return t.cast(F, guarded)


def requires(requirement: Requirement) -> RouteRequirement:
    """Guard a callback with any requirement, e.g. ``requires(a & (b | c))``."""
    return RouteRequirement(requirement)


@t.overload
def require_identity(func: None = None) -> RouteRequirement: ...


@t.overload
def require_identity(func: F) -> F: ...


def require_identity(func: t.Any = None) -> t.Any:
    """Any verified identity; works bare (``@require_identity``) or called."""
    requirement = RouteRequirement(authz.require_identity())
    return requirement if func is None else requirement(func)


def require_group(*groups: str) -> RouteRequirement:
    """Membership of *any* of the groups."""
    return RouteRequirement(authz.require_group(*groups))


def require_all_groups(*groups: str) -> RouteRequirement:
    """Membership of *every* one of the groups."""
    return RouteRequirement(authz.require_all_groups(*groups))


def require_email(*emails: str) -> RouteRequirement:
    """One of the email addresses (ASCII case-insensitively; see the core's require_email)."""
    return RouteRequirement(authz.require_email(*emails))


def require_email_domain(*domains: str) -> RouteRequirement:
    """An email address at exactly one of the domains."""
    return RouteRequirement(authz.require_email_domain(*domains))


def require_claim(name: str, *values_or_predicate: t.Any) -> RouteRequirement:
    """Claim *name* equal to one of the values, or meeting a single predicate, or (with
    neither) present and exactly true (a JSON boolean)."""
    return RouteRequirement(authz.require_claim(name, *values_or_predicate))
