"""WSGI middleware that verifies Pomerium's identity JWT on every request.

Pomerium adds ``X-Pomerium-Jwt-Assertion`` to each request it forwards. This middleware
verifies it (signature against the configured keys, audience, issuer, times) and puts the
resulting :class:`~pomerium_wsgi.Identity` in ``environ["pomerium.identity"]``.

.. warning::

    Only the signed token is trusted. Pomerium can also forward identity as plain
    ``X-Pomerium-Claim-*`` headers; anyone who can reach the app directly can send those,
    so this middleware removes them from the environ before the app runs. Read the
    identity from :func:`get_identity` instead.
"""

from __future__ import annotations

import typing as t
import urllib.parse

from .errors import ConfigurationError, FetchRequired, MissingToken, VerificationError
from .identity import Identity
from .problem import problem
from .signals import identity_verified, send_safely, verification_failed
from .verifier import Verifier

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: environ key holding the verified :class:`Identity`, or None.
IDENTITY_KEY = "pomerium.identity"
#: environ key holding the :class:`VerificationError` of a refused request, or None.
ERROR_KEY = "pomerium.error"
_CLAIM_HEADER_PREFIX = "HTTP_X_POMERIUM_CLAIM_"


def get_identity(environ: t.Mapping[str, t.Any]) -> Identity | None:
    """The verified identity of the request, or None (anonymous or not verified)."""
    identity = environ.get(IDENTITY_KEY)
    return identity if isinstance(identity, Identity) else None


def get_error(environ: t.Mapping[str, t.Any]) -> VerificationError | None:
    """Why the request has no identity (optional mode), or None."""
    error = environ.get(ERROR_KEY)
    return error if isinstance(error, VerificationError) else None


def path_is_exempt(path: str, prefixes: t.Iterable[str]) -> bool:
    """True if *path* is ``prefix`` or below ``prefix/`` for one of *prefixes*.

    A path with ``.`` or ``..`` segments or an empty segment is never exempt: an app that
    resolves them itself (Pyramid traversal, a static file handler) could otherwise be
    reached through ``/healthz/../admin`` without verification. The same holds for
    segments that become dot segments or separators once percent-decoded again or read
    with ``\\`` as a separator (``..%2F``, ``%2e%2e``, ``..\\``), for an app or file server
    that decodes twice or runs on Windows. Such paths are verified like any other, so a
    legitimate client loses nothing.
    """
    for prefix in prefixes:
        if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
            if "%" in path or "\\" in path:
                path = urllib.parse.unquote(path).replace("\\", "/")
            segments = path.split("/")[1:]
            return "." not in segments and ".." not in segments and "" not in segments[:-1]
    return False


def normalise_exempt(exempt: t.Iterable[str] | str) -> tuple[str, ...]:
    """Check and normalise exempt path prefixes (``"/healthz/"`` -> ``"/healthz"``).

    :raises ConfigurationError: a prefix that is not a str starting with ``/``, or one
        that is ``/`` itself: it would exempt every path, turning verification off
        (``POMERIUM_EXEMPT=/`` is an easy slip); optional mode is the switch for serving
        requests without a token.
    """
    if isinstance(exempt, str):
        exempt = (exempt,)
    prefixes = tuple(exempt)
    for prefix in prefixes:
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ConfigurationError(f"exempt path {prefix!r} must start with '/'")
    normalised = tuple(p.rstrip("/") or "/" for p in prefixes)
    if "/" in normalised:
        raise ConfigurationError(
            "exempt path '/' would serve every path without verification; exempt only "
            "the paths that must be public (e.g. '/healthz'), or use optional mode to let "
            "requests without a token through as anonymous"
        )
    return normalised


def strip_claim_headers(environ: t.MutableMapping[str, t.Any]) -> None:
    """Delete ``X-Pomerium-Claim-*`` headers: unsigned, so anyone could have sent them.

    The middleware does this on every request, exempt or not; adapters that skip
    verification for a route call it themselves.
    """
    try:
        # One C-level search of all keys at once; a startswith() per key costs more on
        # every request, and the headers are almost never there.
        present = _CLAIM_HEADER_PREFIX in "\n".join(environ)
    except TypeError:  # a non-str key (not valid WSGI, but not our call to refuse)
        present = True
    if present:
        for key in [k for k in environ if isinstance(k, str)
                    and k.startswith(_CLAIM_HEADER_PREFIX)]:
            del environ[key]


def is_cors_preflight(method: str, origin: str | None,
                      access_control_request_method: str | None) -> bool:
    """True if a request is a CORS preflight: ``OPTIONS`` with ``Origin`` and
    ``Access-Control-Request-Method`` both present and non-empty.

    Pomerium's route option ``cors_allow_preflight`` forwards exactly such requests
    without authenticating them, so they arrive with no token; with ``cors_preflight``
    enabled, the middleware and every adapter let them through unverified (no identity,
    claim headers still removed) and verify everything else. One function decides, for
    every framework: pass the request method and the two header values (None when
    absent).
    """
    return (
        method == "OPTIONS"
        and isinstance(origin, str) and bool(origin.strip())
        and isinstance(access_control_request_method, str)
        and bool(access_control_request_method.strip())
    )


def environ_is_cors_preflight(environ: t.Mapping[str, t.Any]) -> bool:
    """:func:`is_cors_preflight` for a WSGI environ (or Django's ``request.META``)."""
    return is_cors_preflight(environ.get("REQUEST_METHOD", ""), environ.get("HTTP_ORIGIN"),
                             environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"))


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


class PomeriumMiddleware:
    """Verify the Pomerium JWT before the wrapped app sees the request.

    :param app: the WSGI application to protect.
    :param verifier: a :class:`~pomerium_wsgi.Verifier` configured for this app.
    :param optional: if True, requests without a valid token reach the app as anonymous
        (``environ["pomerium.identity"]`` is None and ``"pomerium.error"`` says why);
        use :func:`~pomerium_wsgi.protect` or an adapter's decorators to guard views.
    :param exempt: path prefixes served without verification (``"/healthz"`` matches
        ``/healthz`` and ``/healthz/...``, not ``/healthzz``).
    :param header: the request header carrying the token.
    :param remote_user: the claim copied into ``REMOTE_USER`` (``"email"``, ``"sub"``,
        ...); None leaves ``REMOTE_USER`` alone.
    :param sender: the ``sender`` of the signals sent (default: this middleware).
    :param cors_preflight: if True, CORS preflight requests (see
        :func:`is_cors_preflight`) reach the app unverified, with no identity; for a
        Pomerium route with ``cors_allow_preflight``, which forwards them without a
        token. Every other request, ``OPTIONS`` included, is verified as usual.
    """

    def __init__(
        self,
        app: WSGIApplication,
        verifier: Verifier,
        *,
        optional: bool = False,
        exempt: t.Iterable[str] = (),
        header: str = "X-Pomerium-Jwt-Assertion",
        remote_user: str | None = "email",
        sender: object = None,
        cors_preflight: bool = False,
    ) -> None:
        if not callable(getattr(verifier, "verify", None)):
            raise ConfigurationError("verifier must be a pomerium_wsgi.Verifier")
        self.exempt = normalise_exempt(exempt)
        if not isinstance(header, str) or not header.strip():
            raise ConfigurationError("header must be a header name")
        if remote_user is not None and not (isinstance(remote_user, str) and remote_user):
            # A list or dict here failed on every verified request (a 500), not at start-up.
            raise ConfigurationError(f"remote_user must be a claim name or None, not "
                                     f"{remote_user!r}")
        self.app = app
        self.verifier = verifier
        self.optional = bool(optional)
        self.header = header
        self.remote_user = remote_user
        self.sender = self if sender is None else sender
        self.cors_preflight = bool(cors_preflight)
        self._token_key = _environ_key(header)

    def is_exempt(self, path: str) -> bool:
        """True if *path* is served without verification."""
        return path_is_exempt(path, self.exempt)

    def skips_verification(self, environ: t.Mapping[str, t.Any], path: str | None = None
                           ) -> bool:
        """True if the request is served unverified: an exempt *path* (default: the
        environ's ``PATH_INFO``), or a CORS preflight when ``cors_preflight`` is on."""
        if self.exempt and self.is_exempt(environ.get("PATH_INFO", "") if path is None
                                          else path):
            return True
        return self.cors_preflight and environ_is_cors_preflight(environ)

    def authenticate(
        self, environ: WSGIEnvironment, *, sender: object = None
    ) -> Identity | None:
        """Verify the request's token and record the outcome; send no answer.

        Removes unverified ``X-Pomerium-Claim-*`` headers, sets ``pomerium.identity`` and
        ``pomerium.error`` (and ``REMOTE_USER``) and sends the signals, exactly as a call
        through the middleware does. For framework adapters that answer refusals their
        own way. Exempt paths are not considered here. *sender* overrides the signals'
        sender for this call (for a framework whose app is known only per request).

        Inside :class:`~pomerium_wsgi.keys.no_fetch` (an event loop's thread), a lookup
        that would fetch keys raises :class:`~pomerium_wsgi.errors.FetchRequired` out of
        this method with no signal sent; the caller repeats the call in a worker thread.
        """
        if sender is None:
            sender = self.sender
        strip_claim_headers(environ)
        environ[IDENTITY_KEY] = None
        token = environ.get(self._token_key)
        try:
            if not token:
                raise MissingToken()
            identity = self.verifier.verify(token)
        except FetchRequired:
            raise  # not a verdict: the caller verifies again where it may wait
        except VerificationError as error:
            environ[ERROR_KEY] = error
            send_safely(verification_failed, sender, error=error, environ=environ)
            return None
        environ[ERROR_KEY] = None
        environ[IDENTITY_KEY] = identity
        if self.remote_user is not None:
            value = identity.claims.get(self.remote_user)
            if isinstance(value, str) and value:
                environ["REMOTE_USER"] = value
        send_safely(identity_verified, sender, identity=identity, environ=environ)
        return identity

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> t.Iterable[bytes]:
        if self.skips_verification(environ):
            strip_claim_headers(environ)
            environ[IDENTITY_KEY] = None
            environ[ERROR_KEY] = None
            return self.app(environ, start_response)
        if self.authenticate(environ) is None and not self.optional:
            error: VerificationError = environ[ERROR_KEY]
            extra = [("Retry-After", "5")] if error.status == 503 else []
            return problem(environ, start_response, error.status, error.reason,
                           error.message, extra)
        return self.app(environ, start_response)
