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

Verification runs in a ``before_request`` hook placed ahead of the app's own hooks, using
the core's :meth:`~pomerium_wsgi.PomeriumMiddleware.authenticate` (the app's WSGI callable
is not wrapped). The identity is taken from the signed token only:

.. warning::

    Pomerium can also forward identity as plain ``X-Pomerium-Claim-*`` headers. Anyone
    who reaches the app without going through Pomerium can send those, so they are
    removed from the request before any view or hook of the app sees it, on exempt paths
    too. Read the identity from :data:`current_identity`.
"""

from __future__ import annotations

import dataclasses
import typing as t

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.local import LocalProxy

from pomerium_wsgi import (
    ERROR_KEY,
    IDENTITY_KEY,
    ConfigurationError,
    Identity,
    PomeriumMiddleware,
    VerificationError,
    Verifier,
    get_error,
    get_identity,
    strip_claim_headers,
)

from .errors import refusal_for

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: The key of :class:`PomeriumState` in ``app.extensions``.
EXTENSION_KEY = "pomerium"
#: The attribute of ``flask.g`` holding the request's :class:`RequestState`.
G_ATTRIBUTE = "_pomerium"
#: The request header Pomerium puts the identity token in.
DEFAULT_HEADER = "X-Pomerium-Jwt-Assertion"

#: Config keys that build the verifier: given together with ``verifier=``, they would be
#: silently ignored, so that combination is refused.
VERIFIER_KEYS = ("POMERIUM_AUDIENCE", "POMERIUM_ISSUER", "POMERIUM_JWKS_URL", "POMERIUM_JWKS",
                 "POMERIUM_ALGORITHMS", "POMERIUM_LEEWAY", "POMERIUM_CACHE")
#: Config keys with their defaults (set with ``setdefault`` by ``init_app``).
DEFAULTS: dict[str, t.Any] = {
    "POMERIUM_OPTIONAL": False,
    "POMERIUM_EXEMPT": (),
    # Opt-in, like POMERIUM_EXEMPT: nothing is served without a token unless the app says
    # so (static files can be as private as the pages that use them).
    "POMERIUM_EXEMPT_STATIC": False,
    "POMERIUM_HEADER": DEFAULT_HEADER,
    "POMERIUM_REMOTE_USER": "email",
}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


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


def _boolean(app: Flask, key: str) -> bool:
    value = app.config[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigurationError(f"{key} must be a boolean, not {value!r}")


def _names(app: Flask, key: str, *, split: bool = True) -> tuple[str, ...] | None:
    """A config value that is a string (comma-separated) or a list of strings."""
    value = app.config.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")] if split else [value]
        return tuple(v for v in items if v)
    if isinstance(value, list | tuple | set | frozenset) and all(
        isinstance(v, str) for v in value
    ):
        return tuple(value)
    raise ConfigurationError(f"{key} must be a string or a list of strings, not {value!r}")


def _verifier_from_config(app: Flask) -> Verifier:
    """Build the app's verifier from its ``POMERIUM_*`` config keys."""
    audience = _names(app, "POMERIUM_AUDIENCE")
    if not audience:
        raise ConfigurationError(
            "POMERIUM_AUDIENCE is not set: set app.config['POMERIUM_AUDIENCE'] to this app's "
            "host as Pomerium routes to it (e.g. 'app.example.com'), or pass "
            "Pomerium(verifier=...)"
        )
    options: dict[str, t.Any] = {"audience": audience}
    issuer = _names(app, "POMERIUM_ISSUER")
    if issuer is not None:
        options["issuer"] = issuer
    algorithms = _names(app, "POMERIUM_ALGORITHMS")
    if algorithms is not None:
        options["algorithms"] = algorithms
    jwks_url = app.config.get("POMERIUM_JWKS_URL")
    if jwks_url is not None and jwks_url != "":
        if not isinstance(jwks_url, str):
            raise ConfigurationError(f"POMERIUM_JWKS_URL must be a URL string, not {jwks_url!r}")
        options["jwks_url"] = jwks_url
    if app.config.get("POMERIUM_JWKS") is not None:
        options["jwks"] = app.config["POMERIUM_JWKS"]
    leeway = app.config.get("POMERIUM_LEEWAY")
    if leeway is not None:
        if isinstance(leeway, str):  # e.g. from an environment variable
            try:
                leeway = float(leeway)
            except ValueError:
                raise ConfigurationError(
                    f"POMERIUM_LEEWAY must be a number of seconds, not {leeway!r}"
                ) from None
        options["leeway"] = leeway
    cache = app.config.get("POMERIUM_CACHE")
    if cache is not None:
        if not (callable(getattr(cache, "get", None)) and callable(getattr(cache, "set", None))):
            raise ConfigurationError(
                "POMERIUM_CACHE must be a cachelib cache (e.g. cachelib.RedisCache), "
                f"not {type(cache).__name__}"
            )
        options["cache"] = cache
    return Verifier(**options)


class Pomerium:
    """Verify Pomerium's identity JWT on every request of the apps it is initialised on.

    :param app: the Flask app; or leave it out and call :meth:`init_app` later (the
        application factory pattern).
    :param verifier: a :class:`~pomerium_wsgi.Verifier` to use for every app; or leave
        it out and set ``POMERIUM_AUDIENCE`` (and optionally the other ``POMERIUM_*``
        verifier keys) in each app's config.

    Config keys (read once, by :meth:`init_app`):

    The verifier keys
        ``POMERIUM_AUDIENCE``, ``POMERIUM_ISSUER``, ``POMERIUM_JWKS_URL``, ``POMERIUM_JWKS``,
        ``POMERIUM_ALGORITHMS``, ``POMERIUM_LEEWAY``, ``POMERIUM_CACHE``: the
        :class:`~pomerium_wsgi.Verifier` options (strings may be comma-separated lists).
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
        if self.verifier is not None:
            given = [k for k in VERIFIER_KEYS if app.config.get(k) not in (None, "")]
            if given:
                raise ConfigurationError(
                    f"Pomerium was given a verifier, so {', '.join(given)} would be ignored: "
                    "remove those keys from the config or build the verifier from them"
                )
            verifier = self.verifier
        else:
            verifier = _verifier_from_config(app)
        exempt = _names(app, "POMERIUM_EXEMPT") or ()
        header = app.config["POMERIUM_HEADER"]
        remote_user = app.config["POMERIUM_REMOTE_USER"]
        if remote_user is not None and not (isinstance(remote_user, str) and remote_user):
            raise ConfigurationError(
                f"POMERIUM_REMOTE_USER must be a claim name or None, not {remote_user!r}"
            )
        gate = PomeriumMiddleware(_unused_app, verifier, optional=True, exempt=exempt,
                                  header=header, remote_user=remote_user, sender=app)
        app.extensions[EXTENSION_KEY] = PomeriumState(
            extension=self,
            verifier=verifier,
            optional=_boolean(app, "POMERIUM_OPTIONAL"),
            exempt_static=_boolean(app, "POMERIUM_EXEMPT_STATIC"),
            gate=gate,
        )
        # First of the app-wide hooks, so that no other hook runs before the identity is
        # known (or the request refused).
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


def _forget_claim_headers(environ: WSGIEnvironment) -> None:
    """Remove ``X-Pomerium-Claim-*`` from a request that is not verified (exempt): they
    are unsigned, and nothing may mistake them for an identity."""
    strip_claim_headers(environ)
    environ[IDENTITY_KEY] = None
    environ[ERROR_KEY] = None


def _verify_request() -> None:
    """The ``before_request`` hook: verify, record in ``g``, refuse unless optional."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = get_state(app)
    environ = request.environ
    if (state.gate.exempt and state.gate.is_exempt(request.path)) or (
        state.exempt_static and is_static_endpoint(app, request.endpoint)
    ):
        _forget_claim_headers(environ)
        setattr(g, G_ATTRIBUTE, RequestState(None, None, exempt=True))
        return
    identity = state.gate.authenticate(environ)  # sends the signals, sender=app
    error = None if identity is not None else get_error(environ)
    setattr(g, G_ATTRIBUTE, RequestState(identity, error, exempt=False))
    if identity is None and not state.optional:
        raise refusal_for(error)


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
