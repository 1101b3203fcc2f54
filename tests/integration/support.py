"""Real servers the integration tests drive: a scriptable JWKS endpoint with faults, a
threaded WSGI server, a redis-server process, and a tally of what clients saw.

Nothing here is a mock: every fault is produced by a real socket on 127.0.0.1, so the
library's HTTP client, timeouts and size caps are exercised exactly as in production.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

from pomerium_wsgi.testing import FakePomerium

JWKS_PATH = "/.well-known/pomerium/jwks.json"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: t.Callable[[], bool], timeout: float, what: str) -> None:
    """Poll *predicate* until it holds; fail with *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


# -- the JWKS endpoint -------------------------------------------------------------------

#: The faults a :class:`FaultyJWKS` can play. ``ok`` serves the FakePomerium's JWKS.
FAULT_MODES = ("ok", "http-500", "garbage", "huge-streamed", "slow-headers", "slow-drip",
               "reset")


class FaultyJWKS:
    """A real JWKS endpoint on 127.0.0.1 that serves *fake*'s keys or plays a fault.

    ``mode`` picks the answer (see :data:`FAULT_MODES`); :meth:`stop` closes the
    listening socket so clients get "connection refused", and :meth:`start` listens
    again on the same port, as an endpoint coming back after a restart would.
    ``requests`` counts every request that reached the server, whatever it answered.
    """

    def __init__(self, fake: FakePomerium, *, max_age: int = 60, port: int = 0) -> None:
        self.fake = fake
        self.max_age = max_age
        self.mode = "ok"
        #: Seconds to wait before answering (any mode): makes concurrent callers pile up.
        self.delay = 0.0
        self.requests = 0
        #: ``time.monotonic()`` of every good (200, keys) answer, for load-test timelines.
        self.ok_times: list[float] = []
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}{JWKS_PATH}"
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # close-delimited bodies for the streamed faults

            def do_GET(self) -> None:
                with endpoint._lock:
                    endpoint.requests += 1
                mode = endpoint.mode
                if endpoint.delay:
                    endpoint._stopping.wait(endpoint.delay)
                if mode == "reset":
                    # Accept, read the request, then slam the connection shut.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    return
                if mode == "slow-headers":
                    endpoint._stopping.wait(3.0)
                if mode == "http-500":
                    self._send(500, b"internal error")
                elif mode == "garbage":
                    self._send(200, b"\x00\xff<html>not a jwks")
                elif mode == "huge-streamed":
                    # No Content-Length: only the running byte count can stop it.
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    chunk = b" " * 65536
                    with contextlib.suppress(OSError):
                        self.wfile.write(b'{"keys": [')
                        for _ in range(64):  # 4 MiB, far over the 512 KiB cap
                            if endpoint._stopping.is_set():
                                break
                            self.wfile.write(chunk)
                elif mode == "slow-drip":
                    # Each byte arrives well inside a socket timeout; the whole body
                    # takes far longer than the fetch's total time budget.
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    with contextlib.suppress(OSError):
                        for _ in range(100):
                            if endpoint._stopping.wait(0.1):
                                break
                            self.wfile.write(b" ")
                            self.wfile.flush()
                else:
                    body = json.dumps(endpoint.fake.jwks).encode()
                    with endpoint._lock:
                        endpoint.ok_times.append(time.monotonic())
                    self._send(200, body)

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", f"max-age={endpoint.max_age}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: t.Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        """Listen (again) on this endpoint's port; a no-op while it is listening."""
        if self._server is not None:
            return
        self._stopping.clear()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: t.Any, client_address: t.Any) -> None:
                pass  # clients that gave up (timeouts, size caps) are the point here

        self._server = Server(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket: new connections are refused."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    def __enter__(self) -> FaultyJWKS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the app server and its clients -------------------------------------------------------

class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: t.Any) -> None:
        pass


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


@contextlib.contextmanager
def serve_wsgi(app: WSGIApplication) -> t.Iterator[str]:
    """Serve *app* on a free loopback port in threads; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer,
                         handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one client saw: an HTTP status and the problem reason, or a lost request."""

    status: int | None  # None: no HTTP answer at all (a lost request)
    reason: str = ""
    retry_after: str | None = None

    @property
    def label(self) -> str:
        if self.status is None:
            return "lost"
        return f"{self.status} {self.reason}".strip()


def request(base_url: str, token: str | None, path: str = "/", timeout: float = 15.0) -> Answer:
    """GET *path* with *token* in Pomerium's header, asking for problem+json on refusal."""
    host, port = base_url.removeprefix("http://").split(":")
    headers = {"Accept": "application/json", "Connection": "close"}
    if token is not None:
        headers["X-Pomerium-Jwt-Assertion"] = token
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        reason = ""
        if response.status >= 400:
            with contextlib.suppress(ValueError, AttributeError):
                reason = str(json.loads(body).get("reason", ""))
        return Answer(response.status, reason, response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException):
        return Answer(None)
    finally:
        connection.close()


class Tally:
    """Counts client-visible outcomes (``"200"``, ``"503 keys_unavailable"``, ``"lost"``)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def add(self, answer: Answer) -> Answer:
        with self._lock:
            self.counts[answer.label] += 1
        return answer

    @property
    def lost(self) -> int:
        return self.counts["lost"]

    def __str__(self) -> str:
        return ", ".join(f"{label}: {n}" for label, n in sorted(self.counts.items())) or "-"


@dataclasses.dataclass
class FaultRow:
    """One line of the fault table printed at the end of the run."""

    fault: str
    clients: str
    fetches: str
    lost: int
    test: str


# -- redis-server ------------------------------------------------------------------------

class RedisServer:
    """A real ``redis-server`` on a free loopback port with its own data directory.

    Persistence is off (``--save '' --appendonly no``) so nothing outlives the test.
    :meth:`kill` ends it with SIGKILL (a crash, not a shutdown), :meth:`start` brings
    it back on the same port, :meth:`freeze` / :meth:`thaw` stop and continue the
    process so clients meet a server that accepts connections but never answers.
    """

    def __init__(self, binary: str, data_dir: pathlib.Path) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait (bounded) until it answers PING."""
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.data_dir),
             "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(self.ping, timeout, f"redis-server on port {self.port} answering PING")
        except TimeoutError:
            self.kill()
            raise

    def ping(self) -> bool:
        """True if the server answers ``PING`` with ``+PONG`` right now."""
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """End the server abruptly (SIGKILL) and reap it."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)  # a frozen process must die too
            process.kill()
        process.wait(10)

    def restart(self) -> None:
        """Kill the server and start a fresh, empty one on the same port."""
        self.kill()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the port stays open but nothing is ever answered."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: the server answers again."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def client(self) -> t.Any:
        """A raw redis-py client (for inspecting and tampering with entries)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2,
                           socket_connect_timeout=2)


def find_redis_server() -> str | None:
    """The redis-server binary, or None when it is not installed."""
    return shutil.which("redis-server")
