"""The two servers ``pomerium-wsgi dev`` runs an app under: werkzeug's, or uvicorn.

Each app is wrapped so that every request first passes the session's ``Host`` check,
then gets a freshly minted token in ``X-Pomerium-Jwt-Assertion`` (none with
``--anonymous``), and is logged with its status and the identity injected. The wrappers
follow the servers' own middleware shapes: a WSGI callable, and a pure ASGI 3 callable
(as Starlette's middleware are) that handles ``http`` and ``websocket`` scopes and passes
``lifespan`` straight through.

Both servers take an already listening socket: ``dev`` binds it once, so the address
stays the same across ``--reload`` restarts. uvicorn is imported only for an ASGI app, so
a WSGI-only install never needs it.
"""

from __future__ import annotations

import contextlib
import socket
import typing as t

from .common import UsageError
from .dev_session import TOKEN_HEADER, DevSession

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_WSGI_KEY = "HTTP_" + TOKEN_HEADER.upper().replace("-", "_")
_ASGI_KEY = TOKEN_HEADER.lower().encode("ascii")
_Message = t.MutableMapping[str, t.Any]
_Receive = t.Callable[[], t.Awaitable[_Message]]
_Send = t.Callable[[_Message], t.Awaitable[None]]


class Server(t.Protocol):
    def serve(self) -> None: ...  # until stopped (or KeyboardInterrupt)
    def stop(self) -> None: ...  # from another thread


def _status_code(status: str) -> int:
    try:
        return int(status.split(" ", 1)[0])
    except ValueError:
        return 0


class DevWSGI:
    """WSGI middleware: Host check, token injection and the request line."""

    def __init__(self, app: WSGIApplication, session: DevSession) -> None:
        self.app = app
        self.session = session

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> t.Iterable[bytes]:
        session = self.session
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        host = environ.get("HTTP_HOST")
        if not session.host_allowed(host):
            refusal = session.refusal_body(host)
            start_response("421 Misdirected Request", [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(refusal))), ("Cache-Control", "no-store")])
            session.log(method, path, 421, f"refused: Host {host!r} is not this server")
            return [refusal]
        token = session.mint()
        if token is not None:
            environ[_WSGI_KEY] = token
        codes: list[int] = []

        def capture(status: str, headers: list[tuple[str, str]],
                    exc_info: t.Any = None) -> t.Callable[[bytes], object]:
            codes.append(_status_code(status))
            session.log(method, path, codes[-1])
            return start_response(status, headers, exc_info)

        body = self.app(environ, capture)
        if codes and codes[-1] in (401, 503) and isinstance(body, list | tuple) and body:
            session.saw_response(codes[-1], bytes(body[0]))
        return body


class WSGIServer:
    """werkzeug's threaded development server on dev's socket."""

    def __init__(self, app: WSGIApplication, session: DevSession, sock: socket.socket) -> None:
        from werkzeug.serving import make_server

        host, port = sock.getsockname()[:2]
        self.server = make_server(host, port, DevWSGI(app, session), threaded=True,
                                  fd=sock.fileno())

    def serve(self) -> None:
        self.server.serve_forever()  # returns on KeyboardInterrupt or stop()

    def stop(self) -> None:
        self.server.shutdown()


class DevASGI:
    """Pure ASGI middleware: the same Host check, injection and request line."""

    def __init__(self, app: t.Any, session: DevSession) -> None:
        self.app = app
        self.session = session

    async def __call__(self, scope: _Message, receive: _Receive, send: _Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session = self.session
        http = scope["type"] == "http"
        method = scope.get("method", "") if http else "WEBSOCKET"
        path = scope.get("path", "")
        headers = list(scope.get("headers") or ())
        host = next((v.decode("latin-1") for k, v in headers if k.lower() == b"host"), None)
        if not session.host_allowed(host):
            session.log(method, path, 421 if http else 403,
                        f"refused: Host {host!r} is not this server")
            if http:
                body = session.refusal_body(host)
                await send({"type": "http.response.start", "status": 421, "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store")]})
                await send({"type": "http.response.body", "body": body})
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        token = session.mint()
        if token is not None:
            headers = [(k, v) for k, v in headers if k.lower() != _ASGI_KEY]
            headers.append((_ASGI_KEY, token.encode("ascii")))
            scope = {**scope, "headers": headers}
        state = {"status": 0, "seen_body": False}

        async def watch(message: _Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                state["status"] = int(message.get("status", 0))
                session.log(method, path, state["status"])
            elif kind == "http.response.body" and not state["seen_body"]:
                state["seen_body"] = True
                session.saw_response(int(state["status"]), bytes(message.get("body", b"")))
            elif kind == "websocket.accept" and not state["status"]:
                state["status"] = 101
                session.log(method, path, 101)
            elif kind == "websocket.close" and not state["status"]:
                state["status"] = 403
                session.log(method, path, 403, "closed before accept; "
                            + session.identity.describe())
            await send(message)

        await self.app(scope, receive, watch)


class ASGIServer:
    """uvicorn on dev's socket (imported here: only ASGI apps need it)."""

    def __init__(self, app: t.Any, session: DevSession, sock: socket.socket) -> None:
        try:
            import uvicorn
        except ImportError:
            # No extra of this package installs a server: name the one dev runs.
            raise UsageError("serving an ASGI app needs uvicorn: "
                             "pip install 'uvicorn[standard]'") from None
        config = uvicorn.Config(DevASGI(app, session), interface="asgi3", lifespan="auto",
                                log_config=None, access_log=False, proxy_headers=False,
                                server_header=False, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.sock = sock

    def serve(self) -> None:
        # uvicorn shuts down on SIGINT / SIGTERM, then raises the signal again.
        with contextlib.suppress(KeyboardInterrupt):
            self.server.run(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True
