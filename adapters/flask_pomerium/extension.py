"""The Flask extension: verify Pomerium's identity JWT before every view.

::

    pomerium = Pomerium()

    def create_app():
        app = Flask(__name__)
        app.config["POMERIUM_AUDIENCE"] = "app.example.com"
        pomerium.init_app(app)
        return app

One :class:`Pomerium` object can serve any number of apps: it keeps nothing per app
itself; each app's verifier and settings live in ``app.extensions["pomerium"]`` (a
:class:`PomeriumState`), built from that app's config when ``init_app`` runs.

Claim headers are removed around ``app.wsgi_app``, and the token verified (with the core's
:meth:`~pomerium_wsgi.PomeriumMiddleware.authenticate`) at the start of
``full_dispatch_request``, before ``request_started`` receivers, ``url_value_preprocessor``
functions and hooks run (see :mod:`flask_pomerium.gate`); a ``before_request`` hook placed
ahead of the app's own hooks then refuses, through the app's error handlers. The identity
is taken from the signed token only:

.. warning::

    Pomerium can also forward identity as plain ``X-Pomerium-Claim-*`` headers. Anyone
    who reaches the app without going through Pomerium can send those, so they are
    removed from the request before any code of the app sees it, on exempt paths too.
    Read the identity from :data:`current_identity`.
"""

from __future__ import annotations

import dataclasses
import typing as t

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.local import LocalProxy

from pomerium_wsgi import (
    ConfigurationError,
    Identity,
    PomeriumMiddleware,
    VerificationError,
    Verifier,
    get_error,
    get_identity,
)
from pomerium_wsgi.configure import Configured, configure
from pomerium_wsgi.middleware import environ_is_cors_preflight
from pomerium_wsgi.settings import DEFAULT_HEADER

from .errors import refusal_for
from .gate import (
    PomeriumWSGIGate,
    forget_claim_headers,
    is_static_endpoint,
    options_requirement,
)

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: The key of :class:`PomeriumState` in ``app.extensions``.
EXTENSION_KEY = "pomerium"
#: The attribute of ``flask.g`` holding the request's :class:`RequestState`.
G_ATTRIBUTE = "_pomerium"

#: The settings read from ``POMERIUM_<NAME>`` config keys, by the core's names. Those
#: the config leaves out (and the environment can supply) come from the ``POMERIUM_*``
#: environment variable of the same name: see :mod:`pomerium_wsgi.configure`.
SETTINGS = ("audience", "issuer", "jwks_url", "jwks", "algorithms", "leeway", "timeout",
            "cache", "optional", "exempt", "exempt_static", "header", "remote_user",
            "cors_preflight")
#: Config keys with their defaults (set with ``setdefault`` by ``init_app``). Settings the
#: environment can supply (``POMERIUM_OPTIONAL``, ``POMERIUM_EXEMPT``,
#: ``POMERIUM_CORS_PREFLIGHT``) have their
#: defaults applied after the environment is read, so they are not listed here.
DEFAULTS: dict[str, t.Any] = {
    # Opt-in, like POMERIUM_EXEMPT: nothing is served without a token unless the app says
    # so (static files can be as private as the pages that use them).
    "POMERIUM_EXEMPT_STATIC": False,
    "POMERIUM_HEADER": DEFAULT_HEADER,
    "POMERIUM_REMOTE_USER": "email",
}


def config_key(name: str) -> str:
    """The config key of setting *name* (``"jwks_url"`` -> ``"POMERIUM_JWKS_URL"``)."""
    return "POMERIUM_" + name.upper()


def _label(name: str) -> str:
    return f"app.config[{config_key(name)!r}]"


@dataclasses.dataclass(frozen=True)
class PomeriumState:
    """One app's settings, in ``app.extensions["pomerium"]``."""

    #: The :class:`Pomerium` extension object that initialised the app.
    extension: Pomerium
    #: The verifier checking this app's tokens.
    verifier: Verifier
    #: True: requests without a valid token reach the views as anonymous.
    optional: bool
    #: True: the static file routes (the app's and blueprints') skip verification.
    exempt_static: bool
    #: The core gate: verifies, strips claim headers, sends signals with the app as sender.
    gate: PomeriumMiddleware

    @property
    def exempt(self) -> tuple[str, ...]:
        """Path prefixes served without verification."""
        return self.gate.exempt

    @property
    def header(self) -> str:
        """The request header carrying the token."""
        return self.gate.header


@dataclasses.dataclass(frozen=True)
class RequestState:
    """What verification decided for the current request, in ``g._pomerium``."""

    #: The verified identity, or None (anonymous, refused in optional mode, or exempt).
    identity: Identity | None
    #: Why there is no identity (optional mode), or None.
    error: VerificationError | None
    #: True when the request was not verified at all (exempt path or static file).
    exempt: bool


def _unused_app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    # The gate is used only for PomeriumMiddleware.authenticate(); never called.
    raise AssertionError("the flask_pomerium gate does not serve requests")  # pragma: no cover


def configure_app(app: Flask, verifier: Verifier | None) -> Configured:
    """Resolve *app*'s settings: its config, then the environment (unless *verifier*)."""
    code: dict[str, t.Any] = {name: app.config.get(config_key(name)) for name in SETTINGS}
    # remote_user may be None on purpose (leave REMOTE_USER alone): checked by the caller.
    code.pop("remote_user")
    code["verifier"] = verifier
    return configure(code, label=_label)


class Pomerium:
    """Verify Pomerium's identity JWT on every request of the apps it is initialised on.

    :param app: the Flask app; or leave it out and call :meth:`init_app` later (the
        application factory pattern).
    :param verifier: a :class:`~pomerium_wsgi.Verifier` to use for every app; or leave
        it out and set ``POMERIUM_AUDIENCE`` (and optionally the other ``POMERIUM_*``
        verifier keys) in each app's config or in the environment. A verifier given here
        wins: the app's verifier keys and every ``POMERIUM_*`` environment variable are
        then ignored (so a test can pass a FakePomerium verifier to an app whose
        production config names an audience).

    Config keys (read once, by :meth:`init_app`); a key the config leaves out is read
    from the environment variable of the same name (``POMERIUM_AUDIENCE``,
    ``POMERIUM_JWKS_URL``, ...), so ``app.config.from_prefixed_env()`` is not needed:

    The verifier keys
        ``POMERIUM_AUDIENCE``, ``POMERIUM_ISSUER``, ``POMERIUM_JWKS_URL``, ``POMERIUM_JWKS``,
        ``POMERIUM_ALGORITHMS``, ``POMERIUM_LEEWAY``, ``POMERIUM_TIMEOUT``, ``POMERIUM_CACHE``:
        the :class:`~pomerium_wsgi.Verifier` options (strings may be comma-separated
        lists). ``POMERIUM_JWKS`` and ``POMERIUM_JWKS_URL`` count as one setting: where
        the config names either, the environment's key source is ignored.
    ``POMERIUM_OPTIONAL`` (False)
        True lets requests without a valid token reach the views as anonymous; the
        decorators still answer 401.
    ``POMERIUM_EXEMPT`` (none)
        path prefixes served without verification, e.g. ``["/healthz"]``.
    ``POMERIUM_EXEMPT_STATIC`` (False)
        True serves the static file routes (the app's and blueprints') without
        verification; off by default, so nothing is public unless the app says so.
    ``POMERIUM_HEADER`` (``X-Pomerium-Jwt-Assertion``)
        the request header carrying the token.
    ``POMERIUM_REMOTE_USER`` (``"email"``)
        the claim copied into ``REMOTE_USER``; None leaves it alone.
    ``POMERIUM_CORS_PREFLIGHT`` (False)
        True lets CORS preflight requests (``OPTIONS`` with ``Origin`` and
        ``Access-Control-Request-Method``) through unverified, for a Pomerium route with
        ``cors_allow_preflight``; every other request is verified.
    """

    def __init__(self, app: Flask | None = None, *, verifier: Verifier | None = None) -> None:
        if verifier is not None and not callable(getattr(verifier, "verify", None)):
            raise ConfigurationError("verifier must be a pomerium_wsgi.Verifier")
        self.verifier = verifier
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Check *app*'s settings, build its verifier and install the request hook.

        Raises :class:`~pomerium_wsgi.ConfigurationError` for missing or bad settings,
        and when the app is already initialised.
        """
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError(
                f"Pomerium is already initialised on app {app.name!r}; initialise it once"
            )
        for key, default in DEFAULTS.items():
            app.config.setdefault(key, default)
        configured = configure_app(app, self.verifier)
        verifier = configured.verifier
        exempt = configured.options.get("exempt", ())
        # None in the config means "left out", as for every other key: the default.
        header = configured.options.get("header", DEFAULT_HEADER)
        remote_user = app.config["POMERIUM_REMOTE_USER"]
        if remote_user is not None and not (isinstance(remote_user, str) and remote_user):
            raise ConfigurationError(
                f"POMERIUM_REMOTE_USER must be a claim name or None, not {remote_user!r}"
            )
        gate = PomeriumMiddleware(_unused_app, verifier, optional=True, exempt=exempt,
                                  header=header, remote_user=remote_user, sender=app,
                                  cors_preflight=configured.options.get("cors_preflight", False))
        app.extensions[EXTENSION_KEY] = PomeriumState(
            extension=self,
            verifier=verifier,
            optional=configured.options.get("optional", False),
            exempt_static=configured.options.get("exempt_static", False),
            gate=gate,
        )
        # Verify before any of the app's code runs; refuse in the first app-wide hook, so
        # that the app's error handlers answer and no other hook runs before.
        app.wsgi_app = PomeriumWSGIGate(app.wsgi_app)  # type: ignore[method-assign]
        dispatch = app.full_dispatch_request

        def full_dispatch_request() -> t.Any:
            _verify_in_context(app)
            return dispatch()

        app.full_dispatch_request = full_dispatch_request  # type: ignore[method-assign]
        app.before_request_funcs.setdefault(None, []).insert(0, _verify_request)
        app.teardown_request(_forget_request)
        app.jinja_env.globals["current_identity"] = current_identity
        app.context_processor(_template_context)


def get_state(app: Flask | None = None) -> PomeriumState:
    """The :class:`PomeriumState` of *app* (default: the current app).

    Raises RuntimeError if :class:`Pomerium` was not initialised on it.
    """
    app = app or current_app
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, PomeriumState):
        raise RuntimeError(
            f"flask_pomerium.Pomerium is not initialised on app {app.name!r}: call "
            "Pomerium(app) or pomerium.init_app(app)"
        )
    return state


def _verify_in_context(app: Flask) -> RequestState:
    """Verify the request (unless exempt) and record the outcome in ``g``.

    Runs first in ``full_dispatch_request``, inside the request context and before any
    of the app's hooks and ``request_started`` receivers.
    """
    state = get_state(app)
    environ = request.environ
    if state.gate.skips_verification(environ, request.path) or (
        state.exempt_static and is_static_endpoint(app, request.endpoint)
    ):
        forget_claim_headers(environ)
        outcome = RequestState(None, None, exempt=True)
    else:
        identity = state.gate.authenticate(environ)  # sends the signals, sender=app
        outcome = RequestState(identity, None if identity is not None else get_error(environ),
                               exempt=False)
    setattr(g, G_ATTRIBUTE, outcome)
    return outcome


def _verify_request() -> None:
    """The ``before_request`` hook: refuse a request without identity unless optional;
    guard Flask's automatic ``OPTIONS`` answer for guarded views."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = get_state(app)
    outcome = _request_state()
    if outcome is None:  # full_dispatch_request bypassed (test_request_context)
        outcome = _verify_in_context(app)
    if outcome.identity is None and not outcome.exempt and not state.optional:
        raise refusal_for(outcome.error)
    rule = request.url_rule
    if (request.method == "OPTIONS" and rule is not None
            and getattr(rule, "provide_automatic_options", False)
            and not (state.gate.cors_preflight and environ_is_cors_preflight(request.environ))):
        requirement = options_requirement(app.view_functions.get(rule.endpoint))
        if requirement is not None:
            from .decorators import enforce  # decorators imports this module

            enforce(requirement)


def _forget_request(exc: BaseException | None) -> None:
    # g can outlive the request (an app context pushed around several requests, as in
    # tests): drop the state so that no later code reads a previous request's identity.
    g.pop(G_ATTRIBUTE, None)


def _request_state() -> RequestState | None:
    state = g.get(G_ATTRIBUTE)
    return state if isinstance(state, RequestState) else None


def get_current_identity() -> Identity | None:
    """The verified identity of the current request, or None.

    None means anonymous: outside a request, on an exempt path or static file, or in
    optional mode with a missing or refused token. Unlike :data:`current_identity`, this
    returns the object itself, so ``get_current_identity() is None`` is meaningful.
    """
    if not has_request_context():
        return None
    state = _request_state()
    if state is not None:
        return state.identity
    # Not verified by the extension: perhaps by PomeriumMiddleware around the app.
    return get_identity(request.environ)


def get_verification_error() -> VerificationError | None:
    """Why the current request has no identity (optional mode), or None."""
    if not has_request_context():
        return None
    state = _request_state()
    return state.error if state is not None else get_error(request.environ)


def _template_context() -> dict[str, t.Any]:
    # The identity itself (not the proxy), so that ``current_identity is none`` works.
    return {"current_identity": get_current_identity()}


#: The verified identity of the current request, or None when anonymous; also available
#: in templates. A proxy: test it with ``if current_identity:`` (or ``== None``), not
#: ``is None``; :func:`get_current_identity` returns the object itself. Typed as
#: ``Identity`` (as Flask types ``request``) so that guarded views, where it is always
#: set, read ``current_identity.email`` without casts.
current_identity: Identity = LocalProxy(get_current_identity)  # type: ignore[assignment]
