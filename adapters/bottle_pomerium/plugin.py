"""A Bottle plugin that verifies Pomerium's identity JWT before each route callback runs.

Install it on an app and every route of that app refuses requests without a valid
``X-Pomerium-Jwt-Assertion`` (401), unless the route skips the plugin::

    app = bottle.Bottle()
    app.install(PomeriumPlugin(audience="app.example.com"))

    @app.get("/admin", pomerium=require_group("admins"))  # 403 for everyone else
    def admin(): ...

    @app.get("/healthz", skip=["pomerium"])  # served without verification
    def healthz(): ...

.. warning::

    Bottle applies an app's plugins only to the routes that app owns. Routes of a child
    app brought in with ``app.mount()`` or ``app.merge()`` keep their own app's plugins,
    so install a :class:`PomeriumPlugin` on every app whose routes need protecting: one
    installed on the parent does not verify the child's routes. As a safety net, the
    plugin adds a ``before_request`` hook to the app it is installed on (and to Bottle
    apps mounted below it) that, on every request, removes forged
    ``X-Pomerium-Claim-*`` headers; refuses (401) any route that no installed plugin
    would verify, unless the route skips the plugin by name (a child app mounted or
    merged without its own plugin fails closed, it is not served unverified); and
    verifies a request that matches no route before Bottle answers 404 or 405, so an
    anonymous client cannot map the app's routes. An app with no plugin anywhere above
    or on it is not seen by any of this code, so install the plugin on every app (or use
    the decorators, which fail closed on their own). A mounted WSGI app that is not a
    Bottle app is served as it is: wrap it in :class:`~pomerium_wsgi.PomeriumMiddleware`.

Refusals are raised as Bottle responses, so the app's ``@app.error(401)`` / ``(403)`` /
``(503)`` handlers apply; without a handler the answer is the core's refusal (an HTML page
for browsers, RFC 9457 JSON for API clients, plain text otherwise), which never contains
the token.
"""

from __future__ import annotations

import functools
import logging
import typing as t
import weakref

import bottle

from pomerium_wsgi import (
    ERROR_KEY,
    IDENTITY_KEY,
    ConfigurationError,
    MissingToken,
    PomeriumMiddleware,
    Requirement,
    Verifier,
    strip_claim_headers,
)
from pomerium_wsgi.configure import VERIFIER_PARAMETERS, configure
from pomerium_wsgi.middleware import environ_is_cors_preflight
from pomerium_wsgi.settings import DEFAULT_HEADER

from .refusals import (
    PomeriumHTTPError,
    current_identity,
    enforce,
    refuse,
    refuse_forbidden,
    refuse_unauthenticated,
)

#: The route config key naming a route's requirement (``pomerium=require_group(...)``).
CONFIG_KEY = "pomerium"

logger = logging.getLogger("bottle_pomerium")

Callback = t.Callable[..., t.Any]


def _unused_app(environ: t.Any, start_response: t.Any) -> list[bytes]:
    # The gate is used only for PomeriumMiddleware.authenticate(); never called.
    raise AssertionError("the bottle_pomerium gate does not serve requests")  # pragma: no cover


def _skips_plugin(route: bottle.Route, plugin: PomeriumPlugin) -> bool:
    """True if the route's ``skip=`` list covers *plugin* (by name, class or instance)."""
    skiplist = route.skiplist
    return (True in skiplist or plugin.name in skiplist or plugin in skiplist
            or any(isinstance(entry, type) and isinstance(plugin, entry) for entry in skiplist))


def _skips_verification(route: bottle.Route) -> bool:
    """True if the route says it is served unverified: ``skip=`` names the plugin (by
    name, class or an instance) or skips all plugins (``skip=True``)."""
    return any(entry is True or entry == PomeriumPlugin.name or isinstance(entry, PomeriumPlugin)
               or (isinstance(entry, type) and issubclass(entry, PomeriumPlugin))
               for entry in route.skiplist)


def check_route(route: bottle.Route, plugin: PomeriumPlugin | None = None) -> None:
    """Raise ConfigurationError for a ``pomerium=`` value no plugin would enforce.

    A requirement must be a :class:`~pomerium_wsgi.Requirement`, and a route that names
    one must not skip *plugin*: the requirement would be silently ignored.
    """
    requirement = route.config.get(CONFIG_KEY)
    if requirement is None:
        return
    if not isinstance(requirement, Requirement):
        raise ConfigurationError(
            f"route {route.rule!r}: pomerium= must be a Requirement such as "
            f"require_group('admins'), not {type(requirement).__name__}"
        )
    if plugin is not None and _skips_plugin(route, plugin):
        raise ConfigurationError(
            f"route {route.rule!r}: pomerium= needs the pomerium plugin, but the route "
            "skips it; drop the skip or the requirement"
        )


def _refuse_unenforced(environ: dict[str, t.Any], route: bottle.Route, why: str) -> t.NoReturn:
    """401 for a route whose requirement would not be enforced: fail closed, never 500."""
    # %r: the method and path are the client's, sent before any authentication; a
    # decoded %0a in the path would otherwise forge log lines.
    logger.error("refusing %r %r: route %r %s", environ.get("REQUEST_METHOD"),
                 environ.get("PATH_INFO"), route.rule, why)
    refuse(environ, 401, "unenforced",
            "identity verification is not configured for this route", MissingToken())


_guarded: weakref.WeakSet[bottle.Bottle] = weakref.WeakSet()


def _mounted_bottle(route: bottle.Route) -> bottle.Bottle | None:
    """The Bottle app behind a WSGI mount route (``mount()`` of ``app`` or ``app.wsgi``)."""
    target = route.config.get("mountpoint.target")
    if isinstance(target, bottle.Bottle):
        return target
    owner = getattr(target, "__self__", None)
    return owner if isinstance(owner, bottle.Bottle) else None


def guard(app: bottle.Bottle, plugin: PomeriumPlugin | None = None) -> None:
    """Add the request guard to *app* (once): see :func:`_guard_request`.

    *plugin* verifies the requests that match no route (default: the one installed on
    *app*; a mounted child gets its parent's).
    """
    if app in _guarded:
        return
    _guarded.add(app)
    hook = functools.partial(_guard_request, app, plugin)
    app.add_hook("before_request", hook)
    # Run first, so hooks the app registered before installing the plugin do not see
    # forged claim headers either. Bottle has no public "prepend" for before_request,
    # so move the hook to the front of the list add_hook appended it to, if it is there.
    hooks = getattr(app, "_hooks", {}).get("before_request")
    if isinstance(hooks, list) and hooks and hooks[-1] is hook:
        hooks.insert(0, hooks.pop())


def _guard_request(app: bottle.Bottle, parent_plugin: PomeriumPlugin | None) -> None:
    """Runs before every request *app* dispatches, including mounted and merged routes.

    Removes unsigned claim headers and resets the identity, so nothing that runs before
    (or instead of) the plugin sees a forged identity. Bottle runs this hook before it
    matches the route, so the guard matches it itself: a request that matches no route
    is verified (and refused, unless optional) before Bottle answers 404 or 405; a route
    that no PomeriumPlugin verifies, or whose ``pomerium=`` requirement is invalid or
    would not be enforced, is refused unless it skips the plugin by name.
    """
    environ = bottle.request.environ
    strip_claim_headers(environ)
    environ[IDENTITY_KEY] = None
    environ[ERROR_KEY] = None
    plugin = next((p for p in app.plugins if isinstance(p, PomeriumPlugin)), parent_plugin)
    try:
        route, _args = app.router.match(environ)
    except bottle.HTTPError:
        if plugin is None:
            refuse(environ, 401, "unenforced",
                    "identity verification is not configured for this path", MissingToken())
        if (not plugin.optional and not plugin.passes_unverified(environ)
                and plugin._gate(app).authenticate(environ) is None):
            refuse_unauthenticated(environ)
        return
    child = _mounted_bottle(route)
    if child is not None:  # a WSGI mount: the child dispatches, so guard it too
        guard(child, plugin)
        return
    if not any(isinstance(p, PomeriumPlugin) for p in route.all_plugins()):
        if _skips_verification(route) and route.config.get(CONFIG_KEY) is None:
            return
        _refuse_unenforced(environ, route, "is verified by no PomeriumPlugin; install the "
                           "plugin on the app that owns the route, or skip it by name")
    if route.config.get(CONFIG_KEY) is None:
        return
    try:
        check_route(route)
    except ConfigurationError as error:
        _refuse_unenforced(environ, route, str(error))


class PomeriumPlugin:
    """Verify the Pomerium JWT before the callbacks of the app it is installed on.

    :param verifier: a :class:`~pomerium_wsgi.Verifier`; or leave it out and pass the
        Verifier's options instead (``audience=...``, ``jwks_url=...``, ...). A verifier
        given here ignores the ``POMERIUM_*`` environment variables entirely.
    :param optional: if True, a request without a valid token still reaches callbacks
        that have no requirement, as anonymous (:func:`current_identity` is None); routes
        with a ``pomerium=`` requirement, and the decorators, still answer 401.
    :param header: the request header carrying the token.
    :param remote_user: the claim copied into ``REMOTE_USER``; None leaves it alone.
    :param cors_preflight: if True, CORS preflight requests (``OPTIONS`` with ``Origin``
        and ``Access-Control-Request-Method``) reach the callbacks unverified, with no
        identity, for a Pomerium route with ``cors_allow_preflight``; every other request
        is verified. A route with a ``pomerium=`` requirement still answers them 401 (no
        identity meets it, as with the decorators): serve preflights from an ``OPTIONS``
        route of their own.

    Without a *verifier*, an option left out here is read, when the plugin is installed,
    from the environment variable of the same name (``POMERIUM_AUDIENCE``,
    ``POMERIUM_JWKS_URL``, ``POMERIUM_OPTIONAL``, ...); options given here win.

    Per route: ``pomerium=<Requirement>`` adds an authorization check (403 when it
    fails); ``skip=["pomerium"]`` (or the class, or the instance) serves the route
    without verification. Signals are sent with the route's Bottle app as ``sender``.
    Bad settings raise :class:`~pomerium_wsgi.ConfigurationError` at install time.
    """

    name = "pomerium"
    api = 2

    def __init__(self, verifier: Verifier | None = None, *, optional: bool | None = None,
                 header: str = DEFAULT_HEADER, remote_user: str | None = "email",
                 cors_preflight: bool | None = None, **verifier_options: t.Any) -> None:
        self.verifier = verifier
        # None means "left out": the environment may supply it when the plugin is set up.
        self.optional = optional
        self.cors_preflight = cors_preflight
        self.header = header
        self.remote_user = remote_user
        self.verifier_options = verifier_options
        self._resolved = False
        self._gates: weakref.WeakKeyDictionary[bottle.Bottle, PomeriumMiddleware] = (
            weakref.WeakKeyDictionary())

    def _configured_verifier(self) -> Verifier:
        """The verifier, resolved on first use (code, then environment); raises
        ConfigurationError."""
        if self._resolved and self.verifier is not None:
            return self.verifier
        if self.verifier is not None and self.verifier_options:
            # One call naming both is a contradiction, not an override: refuse it.
            raise ConfigurationError(
                "PomeriumPlugin takes a verifier or Verifier options, not both "
                f"(got {', '.join(sorted(self.verifier_options))})"
            )
        unknown = sorted(set(self.verifier_options) - VERIFIER_PARAMETERS)
        if unknown:
            raise ConfigurationError(f"PomeriumPlugin: unknown options: {', '.join(unknown)}")
        configured = configure({**self.verifier_options, "optional": self.optional,
                                "cors_preflight": self.cors_preflight,
                                "verifier": self.verifier},
                               label=lambda name: f"PomeriumPlugin({name}=...)")
        self.verifier = configured.verifier
        self.optional = bool(configured.options.get("optional", False))
        self.cors_preflight = bool(configured.options.get("cors_preflight", False))
        self.verifier_options = {}
        self._resolved = True
        return self.verifier

    def _gate(self, app: bottle.Bottle) -> PomeriumMiddleware:
        # The core's authenticate() verifies, records the outcome in the environ, strips
        # unverified claim headers and sends the signals; the plugin then decides how
        # to answer, through Bottle. One per app, built once: the request guard asks for
        # it on every request that matches no route.
        gate = self._gates.get(app)
        if gate is None:
            gate = self._gates[app] = PomeriumMiddleware(
                _unused_app, self._configured_verifier(), header=self.header,
                remote_user=self.remote_user, sender=app)
        return gate

    def passes_unverified(self, environ: t.Mapping[str, t.Any]) -> bool:
        """True for a CORS preflight when ``cors_preflight`` is on."""
        return bool(self.cors_preflight) and environ_is_cors_preflight(environ)

    def setup(self, app: bottle.Bottle) -> None:
        """Called by ``app.install``: check the settings and refuse a second plugin.

        Also checks the ``pomerium=`` values of the routes the app already has (Bottle
        builds callbacks lazily, so a bad value would otherwise surface only as a 500
        on the first request) and adds the app-wide request guard.
        """
        for other in app.plugins:
            if other is self or isinstance(other, PomeriumPlugin) or (
                getattr(other, "name", None) == self.name
            ):
                raise ConfigurationError(
                    "a pomerium plugin is already installed on this app; install one "
                    "per app and use route config (pomerium=...) for per-route rules"
                )
        self._gate(app)  # builds the verifier and validates header / remote_user
        for route in app.routes:
            check_route(route, self if route.app is app else None)
        guard(app, self)

    def apply(self, callback: Callback, route: bottle.Route) -> Callback:
        """Wrap *callback*: verify, then check the route's ``pomerium=`` requirement."""
        check_route(route)
        requirement = route.config.get(CONFIG_KEY)
        app = route.app
        gate = self._gate(app)
        optional = self.optional

        @functools.wraps(callback)
        def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
            environ = bottle.request.environ
            if self.passes_unverified(environ):
                strip_claim_headers(environ)
                if requirement is not None:
                    # No identity cannot meet a requirement: answer the preflight from
                    # an OPTIONS route without one, as a decorator would insist too.
                    refuse_unauthenticated(environ)
                return callback(*args, **kwargs)
            identity = gate.authenticate(environ)
            if identity is None:
                if requirement is not None or not optional:
                    refuse_unauthenticated(environ)
            elif requirement is not None and not requirement(identity):
                refuse_forbidden(environ, identity, requirement, app)
            return callback(*args, **kwargs)

        return wrapper


__all__ = [
    "CONFIG_KEY",
    "DEFAULT_HEADER",
    "PomeriumHTTPError",
    "PomeriumPlugin",
    "check_route",
    "current_identity",
    "enforce",
    "guard",
    "refuse_forbidden",
    "refuse_unauthenticated",
]
