"""Small test utilities shared by the core tests (no mocks: real keys, real servers)."""

from __future__ import annotations

import base64
import json
import threading
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

T0 = 1_800_000_000.0  # a fixed "now" for tests that freeze time
Responder = t.Callable[[t.Mapping[str, str]], tuple[int, dict[str, str], bytes]]


class Clock:
    """A settable clock: pass ``clock`` to FakePomerium and Verifier to freeze time."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict[str, t.Any], dict[str, t.Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


class JWKSServer:
    """A real HTTP server on 127.0.0.1 whose answers a test scripts.

    ``respond`` is called for each request with the request headers and returns
    ``(status, headers, body)``; ``delay`` seconds are slept first. ``requests`` counts
    requests served. A subclass that answers by path overrides :meth:`answer` instead.
    """

    def __init__(self, respond: Responder | None = None) -> None:
        self.respond = respond
        self.delay = 0.0
        self.requests = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                if server.delay:
                    server._stop.wait(server.delay)
                status, headers, body = server.answer(self.path, dict(self.headers))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: t.Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: t.Any, client_address: t.Any) -> None:
                pass  # a client that gave up (a timeout test) is expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/pomerium/jwks.json"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, path: str, headers: t.Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        """The answer to a GET of *path*: by default, whatever ``respond`` says."""
        if self.respond is None:
            return 404, {}, b""
        return self.respond(headers)

    def __enter__(self) -> JWKSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def jwks_answer(document: t.Any, max_age: int = 60, etag: str | None = None
                ) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "Cache-Control": f"max-age={max_age}"}
    if etag:
        headers["ETag"] = etag
    return 200, headers, json.dumps(document).encode()


#: Refusal formats by ``Accept``: name -> (header, the refusal's Content-Type). The last
#: one is 200 KB, which must be answered as text without being parsed.
REFUSAL_BY_ACCEPT = {
    "browser": ("text/html,application/xhtml+xml,*/*;q=0.8", "text/html; charset=utf-8"),
    "any": ("*/*", "text/plain; charset=utf-8"),
    "json": ("application/json", "application/problem+json"),
    "200kb-json": ("application/json, " * 11_000, "text/plain; charset=utf-8"),
}
