"""ASGI 3 middleware that verifies Pomerium's identity JWT on every request and handshake.

The ASGI face of :class:`pomerium_wsgi.PomeriumMiddleware`: the same
:class:`~pomerium_wsgi.Verifier`, the same refusals (401 / 503 problem documents from
:mod:`pomerium_wsgi.problem`), the same signals, exempt paths and optional mode. The
outcome is stored in the connection scope under the WSGI middleware's keys, so
:func:`pomerium_wsgi.get_identity` reads ``scope`` exactly as it reads an environ. No web
framework is imported: it serves Starlette, FastAPI or a bare ASGI callable alike.

.. warning::

    Only the signed token is trusted. Unsigned ``X-Pomerium-Claim-*`` headers, which
    anyone who can reach the app directly could send, are removed from the scope passed
    on (a new scope and header list: the server's own are left untouched). Read the
    identity from ``scope["pomerium.identity"]`` instead.

The event loop never waits on the network. Verification (about 0.1 ms) runs inline, with
key lookups that would fetch the JWKS, or wait for another thread's fetch, turned into
:class:`~pomerium_wsgi.errors.FetchRequired` by :class:`~pomerium_wsgi.keys.no_fetch`.
Then one task per event loop verifies in a worker thread (AnyIO's when AnyIO is
installed, which makes this work on Trio too; else asyncio's), and the other tasks that
need keys meanwhile wait for that one fetch and verify inline again.
"""

from __future__ import annotations

import asyncio
import threading
import typing as t

from .errors import ConfigurationError, FetchRequired, MissingToken, VerificationError
from .identity import Identity
from .keys import no_fetch
from .middleware import (
    ERROR_KEY,
    IDENTITY_KEY,
    is_cors_preflight,
    normalise_exempt,
    path_is_exempt,
)
from .problem import preferred_format, render_as
from .signals import identity_verified, send_safely, verification_failed

try:  # Starlette's own dependency; optional here (plain asyncio is the fallback)
    import anyio
    import anyio.to_thread
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    anyio = None  # type: ignore[assignment]

if t.TYPE_CHECKING:  # pragma: no cover
    from .verifier import Verifier

Scope = t.MutableMapping[str, t.Any]
Message = t.MutableMapping[str, t.Any]
Receive = t.Callable[[], t.Awaitable[Message]]
Send = t.Callable[[Message], t.Awaitable[None]]
ASGIApp = t.Callable[[Scope, Receive, Send], t.Awaitable[None]]

#: Close code of a refused WebSocket handshake (RFC 6455: policy violation). Sent before
#: ``websocket.accept``, so the server answers the handshake with HTTP 403.
WS_CLOSE_POLICY_VIOLATION = 1008
_CLAIM_PREFIX = b"x-pomerium-claim-"
_OTHER, _TOKEN, _CLAIM = 0, 1, 2
_MAX_KINDS = 1024
_T = t.TypeVar("_T")


class PomeriumMiddleware:
    """Verify the Pomerium JWT before the wrapped ASGI app sees a request or handshake.

    :param app: the ASGI application to protect.
    :param verifier: a :class:`~pomerium_wsgi.Verifier` configured for this app.
    :param optional: if True, requests without a valid token reach the app as anonymous
        (``scope["pomerium.identity"]`` is None and ``scope["pomerium.error"]`` says why).
    :param exempt: path prefixes served without verification (``"/healthz"`` matches
        ``/healthz`` and ``/healthz/...``), relative to the scope's ``root_path``.
    :param header: the request header carrying the token.
    :param cors_preflight: if True, a CORS preflight (``OPTIONS`` with ``Origin`` and
        ``Access-Control-Request-Method``) passes unverified, as Pomerium's
        ``cors_allow_preflight`` forwards it without a token.
    :param sender: the ``sender`` of the signals sent (default: this middleware). The
        signals' ``environ`` argument is the ASGI scope.

    ``lifespan`` and any other scope type pass straight through.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        *,
        optional: bool = False,
        exempt: t.Iterable[str] = (),
        header: str = "X-Pomerium-Jwt-Assertion",
        cors_preflight: bool = False,
        sender: object = None,
    ) -> None:
        if not callable(getattr(verifier, "verify", None)):
            raise ConfigurationError("verifier must be a pomerium_wsgi.Verifier")
        self.exempt = normalise_exempt(exempt)
        if not isinstance(header, str) or not header.strip() or not header.isascii():
            raise ConfigurationError("header must be a header name")
        self.app = app
        self.verifier = verifier
        self.optional = bool(optional)
        self.header = header
        self.cors_preflight = bool(cors_preflight)
        self.sender = self if sender is None else sender
        self._token_name = header.strip().lower().encode("ascii")
        # Header name as sent -> _TOKEN, _CLAIM or _OTHER: one dict lookup per header
        # instead of lower-casing and comparing each (names repeat from request to
        # request; bounded, so made-up names cannot grow it without limit).
        self._kinds: dict[bytes, int] = {}
        self._fetch = _SharedFetch()

    def _classify(self, name: bytes) -> int:
        """Whether header *name* (any case: lower case is usual in ASGI, not required)
        is the token's, an unsigned claim's, or another."""
        lowered = bytes(name).lower()
        if lowered == self._token_name:
            kind = _TOKEN
        elif lowered.startswith(_CLAIM_PREFIX):
            kind = _CLAIM
        else:
            kind = _OTHER
        if len(self._kinds) < _MAX_KINDS:
            self._kinds[name] = kind
        return kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        headers = scope["headers"]
        kinds = self._kinds
        token: bytes | None = None
        forged = False
        for name, value in headers:
            kind = kinds.get(name)
            if kind is None:
                kind = self._classify(name)
            if kind:
                if kind == _TOKEN:
                    # Repeated, it is joined as a WSGI server would: malformed, refused.
                    token = value if token is None else token + b"," + value
                else:
                    forged = True
        scope = dict(scope)  # ASGI: copy a scope before changing it
        if forged:
            scope["headers"] = [
                (name, value) for name, value in headers if self._classify(name) != _CLAIM
            ]
        scope[IDENTITY_KEY] = None
        scope[ERROR_KEY] = None
        if (self.exempt and path_is_exempt(_route_path(scope), self.exempt)) or (
            self.cors_preflight and _is_preflight(scope)
        ):
            await self.app(scope, receive, send)
            return

        try:
            if not token:
                raise MissingToken()
            identity = await self._verify(token.decode("latin-1"))
        except VerificationError as error:
            scope[ERROR_KEY] = error
            if verification_failed.receivers:
                send_safely(verification_failed, self.sender, error=error, environ=scope)
            if not self.optional:
                await _refuse(scope, send, error)
                return
        else:
            scope[IDENTITY_KEY] = identity
            if identity_verified.receivers:  # (a call saved per request when none)
                send_safely(identity_verified, self.sender, identity=identity, environ=scope)
        await self.app(scope, receive, send)

    async def _verify(self, token: str) -> Identity:
        """Verify inline; in a worker thread (one per loop at a time) if keys must come."""
        with no_fetch():
            try:
                return self.verifier.verify(token)
            except FetchRequired:
                pass
        return await self._fetch.verify(self.verifier, token)


class _SharedFetch:
    """Single flight: one worker-thread verification per event loop, the rest wait.

    The key source fetches at most once at a time anyway (its lock); this keeps the
    waiting off worker threads too, so a cold start with a slow JWKS endpoint costs one
    thread, not one per request. Keyed by thread, as an event loop runs on one thread
    and an event belongs to one loop.
    """

    def __init__(self) -> None:
        self._running: dict[int, t.Any] = {}

    async def verify(self, verifier: Verifier, token: str) -> Identity:
        loop = threading.get_ident()
        running = self._running.get(loop)
        if running is None:
            done = anyio.Event() if anyio is not None else asyncio.Event()
            self._running[loop] = done
            try:
                return await _in_thread(verifier.verify, token)
            finally:
                if self._running.get(loop) is done:
                    del self._running[loop]
                done.set()
        await running.wait()
        with no_fetch():
            try:
                return verifier.verify(token)
            except FetchRequired:
                pass  # another kid, or the fetch failed: this one goes to a thread too
        return await _in_thread(verifier.verify, token)


async def _in_thread(func: t.Callable[[str], _T], arg: str) -> _T:
    if anyio is not None:
        return await anyio.to_thread.run_sync(func, arg)
    return await asyncio.to_thread(func, arg)


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point (``root_path``), as WSGI's ``PATH_INFO``."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):]
    return path


def _header(scope: Scope, name: bytes) -> str | None:
    """The value of header *name* (lower case) in *scope*, repeats joined by commas."""
    values = [value for key, value in scope["headers"] if key.lower() == name]
    return b",".join(values).decode("latin-1") if values else None


def _is_preflight(scope: Scope) -> bool:
    """The core's CORS preflight rule (:func:`~pomerium_wsgi.middleware.is_cors_preflight`)
    for an HTTP *scope*."""
    return scope["type"] == "http" and is_cors_preflight(
        scope.get("method", ""), _header(scope, b"origin"),
        _header(scope, b"access-control-request-method"))


def render_problem(
    scope: Scope,
    status: int,
    reason: str,
    detail: str,
    extra_headers: t.Iterable[tuple[str, str]] = (),
) -> tuple[int, list[tuple[str, str]], bytes]:
    """``(status, headers, body)`` of the core's refusal to the request of an HTTP
    *scope*, in the format its ``Accept`` prefers: what the WSGI middleware would answer."""
    chosen = preferred_format(_header(scope, b"accept"))
    _, headers, body = render_as(chosen, status, reason, detail, extra_headers)
    return status, headers, body


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    reason: str,
    detail: str,
    extra_headers: t.Iterable[tuple[str, str]] = (),
) -> None:
    """Answer an HTTP *scope* with :func:`render_problem`'s answer."""
    code, headers, body = render_problem(scope, status, reason, detail, extra_headers)
    await send({
        "type": "http.response.start",
        "status": code,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    })
    await send({"type": "http.response.body", "body": body})


async def _refuse(scope: Scope, send: Send, error: VerificationError) -> None:
    """401 / 503 for a request; close code 1008 (before accept) for a WebSocket."""
    if scope["type"] == "websocket":
        await send({
            "type": "websocket.close",
            "code": WS_CLOSE_POLICY_VIOLATION,
            "reason": error.reason,
        })
        return
    extra = [("Retry-After", "5")] if error.status == 503 else []
    await send_problem(scope, send, error.status, error.reason, error.message, extra)
