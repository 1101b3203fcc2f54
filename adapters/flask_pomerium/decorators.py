"""Authorization decorators for Flask views, and a guard for a whole blueprint.

Each of ``require_identity``, ``require_group``, ... returns a :class:`ViewRequirement`:
a :class:`~pomerium_wsgi.Requirement` (it combines with ``&`` / ``|`` and checks an
identity) that is also a decorator. It decorates plain views, ``async def`` views,
methods of a :class:`~flask.views.MethodView`, and ``View`` classes themselves::

    @app.get("/admin")
    @require_group("admins")
    def admin(): ...

    @app.get("/me")
    @require_identity          # bare or called: @require_identity()
    async def me(): ...

    @requires(require_group("ops") | require_email_domain("example.com"))
    class Reports(MethodView): ...

    if require_group("admins")(current_identity): ...   # a check: False when anonymous

    protect_blueprint(api, require_group("staff"))   # every view of the blueprint

Like Flask-Login's ``login_required``, the decorators go *below* ``@app.route`` (or
``@app.get``): above it, Flask registers the unguarded view.

A guarded view raises :class:`~flask_pomerium.PomeriumUnauthorized` (401) when the
request has no verified identity, and sends ``access_denied`` (sender: the Flask app) then
raises :class:`~flask_pomerium.PomeriumForbidden` (403) when the identity does not meet
the requirement. Both go through the app's ``errorhandler(401)`` / ``(403)``.
"""

from __future__ import annotations

import functools
import inspect
import typing as t

from flask import Blueprint, Flask, current_app, request
from flask.views import View
from werkzeug.local import LocalProxy

from pomerium_wsgi import IDENTITY_KEY, Identity, Requirement, authz
from pomerium_wsgi.signals import access_denied, send_safely

from .errors import PomeriumForbidden, refusal_for
from .extension import (
    EXTENSION_KEY,
    get_current_identity,
    get_verification_error,
)
from .gate import is_static_endpoint

F = t.TypeVar("F", bound=t.Callable[..., t.Any])
V = t.TypeVar("V", bound=type[View])


def enforce(requirement: Requirement) -> Identity:
    """Check the current request against *requirement*; return the identity or raise.

    401 (503 when the signing keys are unavailable) without an identity; 403, after the
    ``access_denied`` signal, when the identity does not meet *requirement*. Usable in
    any view or hook: ``identity = enforce(require_group("admins"))``.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    identity = get_current_identity()
    if identity is None:
        if EXTENSION_KEY not in app.extensions and IDENTITY_KEY not in request.environ:
            # Nothing verifies this app's requests: fail closed, and loudly.
            raise RuntimeError(
                f"a Pomerium requirement guards a view of app {app.name!r}, but nothing "
                "verifies its requests: call Pomerium(app) or pomerium.init_app(app)"
            )
        raise refusal_for(get_verification_error())
    if not requirement(identity):
        send_safely(access_denied, app, identity=identity, requirement=requirement,
                    environ=request.environ)
        raise PomeriumForbidden(requirement, identity)
    return identity


def _guard(view: F, requirement: Requirement) -> F:
    """Wrap *view* so that *requirement* is enforced first, keeping it sync or async
    (Flask runs a coroutine function through ``ensure_sync`` only if it looks like one)."""
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def guarded_async(*args: t.Any, **kwargs: t.Any) -> t.Any:
            enforce(requirement)
            return await view(*args, **kwargs)

        guarded: t.Callable[..., t.Any] = guarded_async
    else:

        @functools.wraps(view)
        def guarded_sync(*args: t.Any, **kwargs: t.Any) -> t.Any:
            enforce(requirement)
            return view(*args, **kwargs)

        guarded = guarded_sync
    guarded.pomerium_requirement = requirement  # type: ignore[attr-defined]
    return t.cast(F, guarded)


def _guard_class(cls: type[View], requirement: Requirement) -> None:
    """Guard every request *cls* (and any subclass of it) serves with *requirement*.

    The guard wraps ``dispatch_request`` rather than joining the class's ``decorators``
    list: a subclass that sets its own ``decorators`` (``decorators = []`` or
    ``[cache]``) would otherwise drop it without a word. A subclass that writes its own
    ``dispatch_request`` (every plain ``View`` does) gets it wrapped as it is created,
    through ``__init_subclass__``; the class's own ``__init_subclass__``, if any, still
    runs first. The guard runs when the view is dispatched, after the view class is
    instantiated, and before any ``get``/``post``/... method.
    """
    _guard_dispatch(cls, requirement)
    own_hook = cls.__dict__.get("__init_subclass__")

    def __init_subclass__(subclass: type[View], /, **kwargs: t.Any) -> None:
        if own_hook is not None:
            own_hook.__get__(None, subclass)(**kwargs)
        else:
            super(cls, subclass).__init_subclass__(**kwargs)
        if "dispatch_request" in subclass.__dict__:
            _guard_dispatch(subclass, requirement)

    cls.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]


def _guard_dispatch(cls: type[View], requirement: Requirement) -> None:
    # Looked up on the class: a plain function, so the wrapper binds like a method.
    setattr(cls, "dispatch_request", _guard(cls.dispatch_request, requirement))  # noqa: B010


class ViewRequirement(authz.Delegating):
    """A requirement that, called with a view (or ``View`` class), guards it.

    Called with an :class:`~pomerium_wsgi.Identity`, None, or :data:`current_identity`
    it checks it, like any requirement. On a ``View``/``MethodView`` class it guards the
    class's ``dispatch_request``, so every method of the view (and of its subclasses,
    whatever ``decorators`` they set) is guarded.
    """

    @t.overload
    def __call__(self, target: Identity | None) -> bool: ...

    @t.overload
    def __call__(self, target: V) -> V: ...

    @t.overload
    def __call__(self, target: F) -> F: ...

    def __call__(self, target: t.Any) -> t.Any:
        if isinstance(target, LocalProxy):
            # current_identity is callable (proxies forward calls): checked as a view it
            # would come back as a wrapper function, which is truthy, so a test such as
            # ``if require_group("admins")(current_identity):`` would let anyone in.
            # Check what it stands for instead (None when anonymous).
            target = target._get_current_object()
        if target is None or isinstance(target, Identity):
            return super().__call__(target)
        if isinstance(target, type):
            if not issubclass(target, View):
                raise TypeError(f"{type(self).__name__} can decorate a flask View class, "
                                f"not {target.__name__}")
            _guard_class(target, self.requirement)
            return target
        if not inspect.isroutine(target):
            # Only real functions: anything else may be a stand-in for an identity (a
            # proxy, a mapping of claims) whose check must not silently become a view.
            raise TypeError(f"{type(self).__name__} decorates a view function or View class "
                            f"or checks an Identity, not {type(target).__name__}")
        return self._decorate(target)

    def _decorate(self, view: F) -> F:
        return _guard(view, self.requirement)


def requires(requirement: Requirement) -> ViewRequirement:
    """Guard a view with any requirement, e.g. ``requires(a & (b | c))``."""
    return ViewRequirement(requirement)


@t.overload
def require_identity() -> ViewRequirement: ...


@t.overload
def require_identity(view: F) -> F: ...


def require_identity(view: t.Any = None) -> t.Any:
    """Any verified identity; works bare (``@require_identity``) or called
    (``@require_identity()``). Useful in optional mode, where anonymous requests reach
    the views."""
    requirement = ViewRequirement(authz.require_identity())
    return requirement if view is None else requirement(view)


def _strings(what: str, values: tuple[t.Any, ...]) -> None:
    # The common slip: @require_group without arguments hands over the view itself.
    if values and callable(values[0]) and not isinstance(values[0], str):
        raise TypeError(f"{what} takes arguments: write @{what}('name'), not @{what}")


def require_group(*groups: str) -> ViewRequirement:
    """Membership of *any* of the groups."""
    _strings("require_group", groups)
    return ViewRequirement(authz.require_group(*groups))


def require_all_groups(*groups: str) -> ViewRequirement:
    """Membership of *every* one of the groups."""
    _strings("require_all_groups", groups)
    return ViewRequirement(authz.require_all_groups(*groups))


def require_email(*emails: str) -> ViewRequirement:
    """One of the email addresses (ASCII case-insensitively; see the core's require_email)."""
    _strings("require_email", emails)
    return ViewRequirement(authz.require_email(*emails))


def require_email_domain(*domains: str) -> ViewRequirement:
    """An email address at exactly one of the domains (``"example.com"``)."""
    _strings("require_email_domain", domains)
    return ViewRequirement(authz.require_email_domain(*domains))


def require_claim(name: str, *values_or_predicate: t.Any) -> ViewRequirement:
    """Claim *name* equal to one of the values (any element, for a list claim); or a
    single callable predicate over the value; or, with neither, present and exactly
    true (a JSON boolean, not the string "true")."""
    _strings("require_claim", (name,))
    return ViewRequirement(authz.require_claim(name, *values_or_predicate))


BP = t.TypeVar("BP", Blueprint, Flask)


def protect_blueprint(blueprint: BP, requirement: Requirement | None = None) -> BP:
    """Guard every view of *blueprint* (and of blueprints nested in it) with
    *requirement* (default: any verified identity). Returns the blueprint.

    Call it before the blueprint is registered on an app. The blueprint's static file
    route is guarded too, unless the app exempts static files (``POMERIUM_EXEMPT_STATIC``).
    Also accepts a Flask app, to guard all of its views.
    """
    if requirement is None:
        requirement = authz.require_identity()
    elif not isinstance(requirement, Requirement):
        raise TypeError("protect_blueprint() needs a Requirement, e.g. require_group('staff')")
    if isinstance(requirement, ViewRequirement):
        requirement = requirement.requirement
    required = requirement

    def guard_blueprint() -> None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        state = app.extensions.get(EXTENSION_KEY)
        if getattr(state, "exempt_static", False) and is_static_endpoint(app, request.endpoint):
            return
        enforce(required)

    guard_blueprint.pomerium_requirement = required  # type: ignore[attr-defined]
    blueprint.before_request(guard_blueprint)
    return blueprint
