"""Authorization decorators for Django function views.

One test-based decorator, :func:`identity_passes_test`, lies underneath the specific ones,
as ``user_passes_test`` does in ``django.contrib.auth``. Each of ``require_identity``,
``require_group``, ... returns a :class:`ViewRequirement`: a core
:class:`~pomerium_wsgi.Requirement` (it combines with ``&`` / ``|`` and checks an
identity) that also decorates a view, sync or async::

    @require_group("admins")
    def admin(request): ...

    @requires(require_group("ops") | require_email_domain("example.com"))
    async def reports(request): ...

A request without a verified identity is answered 401 (503 when the keys are unavailable)
with the core's body. An identity that fails the requirement sends ``access_denied``
(sender: the guarded view) and raises ``PermissionDenied``, so the project's own
``403.html`` / ``handler403`` answers it.
"""

from __future__ import annotations

import functools
import typing as t

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse

from pomerium_wsgi import Identity, Requirement, authz, get_error
from pomerium_wsgi.signals import access_denied, send_safely

from .responses import refusal

F = t.TypeVar("F", bound=t.Callable[..., t.Any])


def check_request(request: HttpRequest, requirement: Requirement, sender: object
                  ) -> HttpResponse | None:
    """None if *request*'s identity meets *requirement*; else the 401/503 answer to return.

    :raises PermissionDenied: the identity does not meet *requirement* (after the
        ``access_denied`` signal).
    :raises ImproperlyConfigured: the request was not seen by the middleware (fail
        closed, and loudly).
    """
    try:
        identity = request.pomerium_identity
    except AttributeError:
        raise ImproperlyConfigured(
            "a Pomerium requirement guards a view, but the request was not verified: add "
            "'django_pomerium.middleware.PomeriumMiddleware' to MIDDLEWARE") from None
    if identity is None:
        return refusal(request, get_error(request.META))
    if isinstance(requirement, authz.Delegating):
        requirement = requirement.requirement
    if not requirement(identity):
        send_safely(access_denied, sender, identity=identity, requirement=requirement,
                    environ=request.META)
        raise PermissionDenied(f"access requires {requirement}")
    return None


def identity_passes_test(requirement: Requirement) -> t.Callable[[F], F]:
    """Decorator for views that checks the request's identity against *requirement*.

    The view runs only when it passes; 401 without an identity; ``PermissionDenied``
    when the identity fails. Keeps an ``async def`` view a coroutine function.
    """

    def decorator(view: F) -> F:
        if iscoroutinefunction(view):

            async def guarded_async(request: HttpRequest, *args: t.Any, **kwargs: t.Any
                                    ) -> t.Any:
                refused = check_request(request, requirement, guarded)
                if refused is not None:
                    return refused
                return await view(request, *args, **kwargs)

            guarded: t.Callable[..., t.Any] = functools.wraps(view)(guarded_async)
            markcoroutinefunction(guarded)
        else:

            def guarded_sync(request: HttpRequest, *args: t.Any, **kwargs: t.Any) -> t.Any:
                refused = check_request(request, requirement, guarded)
                if refused is not None:
                    return refused
                return view(request, *args, **kwargs)

            guarded = functools.wraps(view)(guarded_sync)
        guarded.pomerium_requirement = requirement  # type: ignore[attr-defined]
        return t.cast(F, guarded)

    return decorator


class ViewRequirement(authz.Delegating):
    """A requirement that, called with a view function, guards it; called with an
    :class:`~pomerium_wsgi.Identity` or None, checks it (False for None)."""

    @t.overload
    def __call__(self, target: Identity | None) -> bool: ...

    @t.overload
    def __call__(self, target: F) -> F: ...

    def __call__(self, target: t.Any) -> t.Any:
        if target is None or isinstance(target, Identity):
            return super().__call__(target)
        if not callable(target) or isinstance(target, type):
            raise TypeError(f"{type(self).__name__} decorates a view function or checks an "
                            f"Identity, not {type(target).__name__}; for a class-based "
                            "view use django_pomerium.mixins.PomeriumRequiredMixin")
        return identity_passes_test(self.requirement)(target)


def requires(requirement: Requirement) -> ViewRequirement:
    """Guard a view with any core requirement, e.g. ``requires(a & (b | c))``."""
    return ViewRequirement(requirement)


@t.overload
def require_identity() -> ViewRequirement: ...


@t.overload
def require_identity(view: F) -> F: ...


def require_identity(view: t.Any = None) -> t.Any:
    """Any verified identity; bare (``@require_identity``) or called
    (``@require_identity()``). For optional mode, where anonymous requests reach views."""
    requirement = ViewRequirement(authz.require_identity())
    return requirement if view is None else requirement(view)


def require_group(*groups: str) -> ViewRequirement:
    """Membership of *any* of the groups."""
    return ViewRequirement(authz.require_group(*groups))


def require_all_groups(*groups: str) -> ViewRequirement:
    """Membership of *every* one of the groups."""
    return ViewRequirement(authz.require_all_groups(*groups))


def require_email(*emails: str) -> ViewRequirement:
    """One of the email addresses (compared case-insensitively)."""
    return ViewRequirement(authz.require_email(*emails))


def require_email_domain(*domains: str) -> ViewRequirement:
    """An email address at exactly one of the domains."""
    return ViewRequirement(authz.require_email_domain(*domains))


def require_claim(name: str, *values_or_predicate: t.Any) -> ViewRequirement:
    """Claim *name* equal to one of the values, or satisfying one predicate, or truthy."""
    return ViewRequirement(authz.require_claim(name, *values_or_predicate))
