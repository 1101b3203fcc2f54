"""pomerium_wsgi.asgi: the ASGI middleware, driven by raw ASGI messages.

Refusals are compared byte for byte with the WSGI middleware's. The key-fetch tests use a
real, slow JWKS server on 127.0.0.1 and show that the event loop keeps running while one
worker thread fetches for every waiting request, on asyncio and on Trio (through AnyIO),
and on plain asyncio without AnyIO installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import typing as t

import anyio
import pytest
from werkzeug.test import Client

from pomerium_wsgi import PomeriumMiddleware as WSGIMiddleware
from pomerium_wsgi import Verifier, get_error, get_identity
from pomerium_wsgi.asgi import PomeriumMiddleware, render_problem
from pomerium_wsgi.errors import ConfigurationError
from pomerium_wsgi.signals import identity_verified, verification_failed
from pomerium_wsgi.testing import FakePomerium

from .conftest import ROOT
from .helpers import Clock, JWKSServer, jwks_answer

Message = dict[str, t.Any]


def http_scope(path: str = "/", headers: t.Iterable[tuple[str, str]] = (), *,
               method: str = "GET", root_path: str = "", type: str = "http") -> Message:
    return {
        "type": type, "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": root_path, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    }


async def call(app: t.Any, scope: Message, inbox: list[Message] | None = None) -> list[Message]:
    """Run *app* on *scope*; return what it sent."""
    sent: list[Message] = []
    pending = list(inbox if inbox is not None else [{"type": "http.request", "body": b""}])

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


class Echo:
    """An ASGI app that records the scopes it sees and answers 200 with the email."""

    def __init__(self) -> None:
        self.scopes: list[Message] = []

    async def __call__(self, scope: Message, receive: t.Any, send: t.Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "lifespan":
            return
        if scope["type"] == "websocket":
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            return
        identity = get_identity(scope)
        body = (identity.email if identity else "anonymous").encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})


def answer(sent: list[Message]) -> tuple[int, dict[str, str], bytes]:
    start, body = sent
    assert start["type"] == "http.response.start" and body["type"] == "http.response.body"
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body["body"]


def asgi_run(app: t.Any, scope: Message) -> list[Message]:
    return anyio.run(call, app, scope)


def token_header(token: str) -> tuple[str, str]:
    return ("X-Pomerium-Jwt-Assertion", token)


# -- the request path -------------------------------------------------------------------


def test_verified_request_reaches_the_app_with_its_identity(fake: FakePomerium) -> None:
    echo = Echo()
    scope = http_scope(headers=[token_header(fake.token("ada@example.com"))])
    original_headers = list(scope["headers"])
    status, _, body = answer(asgi_run(PomeriumMiddleware(echo, fake.verifier()), scope))
    assert (status, body) == (200, b"ada@example.com")
    seen = echo.scopes[0]
    assert get_identity(seen) is not None and get_identity(seen).email == "ada@example.com"
    assert seen["pomerium.error"] is None
    # ASGI: the caller's scope is copied, never changed.
    assert "pomerium.identity" not in scope and scope["headers"] == original_headers


@pytest.mark.parametrize(
    "claim_header",
    ["X-Pomerium-Claim-Email", "x-pomerium-claim-groups", "X-POMERIUM-CLAIM-NAME"],
    ids=["title-case", "lower-case", "upper-case"],
)
def test_unsigned_claim_headers_are_removed(fake: FakePomerium, claim_header: str) -> None:
    echo = Echo()
    scope = http_scope(headers=[token_header(fake.token()), ("Accept", "*/*")])
    scope["headers"].append((claim_header.encode(), b"admin@example.com"))  # case as sent
    given = scope["headers"]
    given_copy = list(given)
    asgi_run(PomeriumMiddleware(echo, fake.verifier()), scope)
    names = [name for name, _ in echo.scopes[0]["headers"]]
    assert names == [b"x-pomerium-jwt-assertion", b"accept"]
    assert given == given_copy  # the server's list is left as it was


def test_header_names_are_matched_case_insensitively(fake: FakePomerium) -> None:
    scope = http_scope()
    scope["headers"] = [(b"X-Pomerium-Jwt-Assertion", fake.token("ada@example.com").encode())]
    status, _, body = answer(asgi_run(PomeriumMiddleware(Echo(), fake.verifier()), scope))
    assert (status, body) == (200, b"ada@example.com")


def test_a_repeated_token_header_is_refused_as_malformed(fake: FakePomerium) -> None:
    token = fake.token()
    scope = http_scope(headers=[token_header(token), token_header(token)])
    status, _, body = answer(asgi_run(PomeriumMiddleware(Echo(), fake.verifier()), scope))
    assert status == 401 and b"malformed" in body


def _wsgi_answer(verifier: Verifier, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    def hello(environ: t.Any, start_response: t.Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]

    response = Client(WSGIMiddleware(hello, verifier)).get("/", headers=headers)
    return (response.status_code, {k.lower(): v for k, v in response.headers.items()},
            response.get_data())


@pytest.mark.parametrize("accept", ["application/json", "text/plain", None],
                         ids=["json", "text", "no-accept"])
@pytest.mark.parametrize("case", ["missing", "malformed", "expired", "audience", "unknown_key"])
def test_refusals_are_the_wsgi_middlewares(fake: FakePomerium, clock: Clock, accept: str | None,
                                           case: str) -> None:
    token = {
        "missing": None,
        "malformed": "not-a-jwt",
        "expired": fake.token(iat=int(clock()) - 1000, exp=int(clock()) - 500),
        "audience": fake.token(aud="other.example.com"),
        "unknown_key": FakePomerium(clock=clock).token(),
    }[case]
    headers = {"Accept": accept} if accept else {}
    if token is not None:
        headers["X-Pomerium-Jwt-Assertion"] = token
    echo = Echo()
    sent = asgi_run(PomeriumMiddleware(echo, fake.verifier()), http_scope(headers=headers.items()))
    status, asgi_headers, body = answer(sent)
    assert (status, asgi_headers, body) == _wsgi_answer(fake.verifier(), headers)
    assert status == 401 and case.encode() in body
    assert asgi_headers["www-authenticate"] == 'Pomerium realm="pomerium"'
    assert asgi_headers["cache-control"] == "no-store"
    assert not echo.scopes
    if token:
        assert token.encode() not in body


def test_render_problem_reads_accept_from_the_scope() -> None:
    scope = http_scope(headers=[("Accept", "text/plain;q=0.5"), ("accept", "application/json"),
                                ("Content-Type", "text/x")])
    status, headers, body = render_problem(scope, 403, "forbidden", "access requires x")
    assert status == 403 and dict(headers)["Content-Type"] == "application/problem+json"
    assert json.loads(body)["reason"] == "forbidden"


def test_render_problem_bounds_accept_as_the_core_does() -> None:
    scope = http_scope(headers=[("Accept", "application/json," + "x" * 200_000)])
    status, headers, _ = render_problem(scope, 401, "missing", "no token")
    assert status == 401 and dict(headers)["Content-Type"].startswith("text/plain")


def test_keys_unavailable_is_503_with_retry_after(fake: FakePomerium) -> None:
    with JWKSServer(lambda headers: (500, {}, b"down")) as server:
        verifier = fake.verifier(jwks_url=server.url)
        scope = http_scope(headers=[token_header(fake.token()), ("Accept", "application/json")])
        status, headers, body = answer(asgi_run(PomeriumMiddleware(Echo(), verifier), scope))
    assert status == 503 and headers["retry-after"] == "5"
    assert json.loads(body)["reason"] == "keys_unavailable"


# -- scope types, paths, modes ------------------------------------------------------------


def test_lifespan_and_other_scopes_pass_straight_through(fake: FakePomerium) -> None:
    echo = Echo()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    asgi_run(PomeriumMiddleware(echo, fake.verifier()), scope)
    assert echo.scopes == [scope] and echo.scopes[0] is scope


@pytest.mark.parametrize(
    ("path", "root_path", "exempt"),
    [("/healthz", "", True), ("/healthz/live", "", True), ("/healthzz", "", False),
     ("/healthz/../admin", "", False), ("/app/healthz", "/app", True),
     ("/app/admin", "/app", False)],
    ids=["prefix", "below-prefix", "longer-name", "dot-segments", "under-root-path",
         "other-under-root-path"],
)
def test_exempt_paths(fake: FakePomerium, path: str, root_path: str, exempt: bool) -> None:
    echo = Echo()
    scope = http_scope(path, [("X-Pomerium-Claim-Email", "x@example.com")], root_path=root_path)
    status, _, body = answer(asgi_run(
        PomeriumMiddleware(echo, fake.verifier(), exempt=["/healthz/"]), scope))
    assert status == (200 if exempt else 401)
    if exempt:
        seen = echo.scopes[0]
        assert body == b"anonymous" and seen["headers"] == []
        assert seen["pomerium.identity"] is None and seen["pomerium.error"] is None


def test_optional_mode_lets_anonymous_requests_through(fake: FakePomerium) -> None:
    echo = Echo()
    app = PomeriumMiddleware(echo, fake.verifier(), optional=True)
    status, _, body = answer(asgi_run(app, http_scope(headers=[token_header("bad")])))
    assert (status, body) == (200, b"anonymous")
    error = get_error(echo.scopes[0])
    assert error is not None and error.reason == "malformed"


@pytest.mark.parametrize(
    ("enabled", "method", "headers", "passes"),
    [(True, "OPTIONS", {"Origin": "https://a.example.com",
                        "Access-Control-Request-Method": "POST"}, True),
     (True, "OPTIONS", {"Origin": "https://a.example.com"}, False),
     (True, "GET", {"Origin": "https://a.example.com",
                    "Access-Control-Request-Method": "POST"}, False),
     (False, "OPTIONS", {"Origin": "https://a.example.com",
                         "Access-Control-Request-Method": "POST"}, False)],
    ids=["preflight", "options-without-request-method", "get-with-cors-headers", "disabled"],
)
def test_cors_preflight(fake: FakePomerium, enabled: bool, method: str,
                        headers: dict[str, str], passes: bool) -> None:
    echo = Echo()
    scope = http_scope(headers=[*headers.items(), ("X-Pomerium-Claim-Email", "x@example.com")],
                       method=method)
    app = PomeriumMiddleware(echo, fake.verifier(), cors_preflight=enabled)
    status, _, _ = answer(asgi_run(app, scope))
    assert status == (200 if passes else 401)
    if passes:
        assert get_identity(echo.scopes[0]) is None
        assert b"x-pomerium-claim-email" not in dict(echo.scopes[0]["headers"])


def test_signals_carry_the_scope(fake: FakePomerium) -> None:
    seen: list[tuple[str, object, t.Any]] = []
    sender = object()

    def verified(s: object, identity: t.Any, environ: t.Any) -> None:
        seen.append(("verified", s, environ["path"]))

    def failed(s: object, error: t.Any, environ: t.Any) -> None:
        seen.append(("failed", s, error.reason))

    app = PomeriumMiddleware(Echo(), fake.verifier(), sender=sender)
    with identity_verified.connected_to(verified), verification_failed.connected_to(failed):
        asgi_run(app, http_scope("/x", [token_header(fake.token())]))
        asgi_run(app, http_scope("/y"))
    assert seen == [("verified", sender, "/x"), ("failed", sender, "missing")]


# -- WebSocket ------------------------------------------------------------------------------


def test_websocket_handshake_with_a_valid_token_reaches_the_app(fake: FakePomerium) -> None:
    echo = Echo()
    scope = http_scope("/ws", [token_header(fake.token("ada@example.com"))], type="websocket")
    sent = anyio.run(call, PomeriumMiddleware(echo, fake.verifier()), scope,
                     [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.accept"}]
    assert get_identity(echo.scopes[0]).email == "ada@example.com"


@pytest.mark.parametrize("token", [None, "bad"], ids=["missing", "malformed"])
def test_refused_websocket_handshake_is_closed_with_1008(fake: FakePomerium,
                                                         token: str | None) -> None:
    echo = Echo()
    headers = [token_header(token)] if token else []
    scope = http_scope("/ws", headers, type="websocket")
    sent = anyio.run(call, PomeriumMiddleware(echo, fake.verifier()), scope,
                     [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1008,
                     "reason": "missing" if token is None else "malformed"}]
    assert not echo.scopes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"verifier": object()}, "verifier"), ({"exempt": ["healthz"]}, "start with '/'"),
     ({"header": " "}, "header"), ({"header": "X-Jwt-\u00e9"}, "header")],
    ids=["not-a-verifier", "relative-exempt", "blank-header", "non-ascii-header"],
)
def test_bad_settings_fail_at_construction(fake: FakePomerium, kwargs: dict[str, t.Any],
                                           message: str) -> None:
    options: dict[str, t.Any] = {"verifier": fake.verifier(), **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        PomeriumMiddleware(Echo(), **options)


# -- key fetches never block the loop -------------------------------------------------------


@pytest.fixture
def slow_jwks(fake: FakePomerium) -> t.Iterator[JWKSServer]:
    """A real JWKS server that takes a second to answer."""
    with JWKSServer(lambda headers: jwks_answer(fake.jwks)) as server:
        server.delay = 1.0
        yield server


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_loop_runs_while_one_thread_fetches_for_everyone(
    fake: FakePomerium, slow_jwks: JWKSServer, anyio_backend: str
) -> None:
    verifier = fake.verifier(jwks_url=slow_jwks.url)
    loop_thread = threading.get_ident()
    worker_calls: list[int] = []
    verify = verifier.verify

    def recording_verify(token: str) -> t.Any:
        if threading.get_ident() != loop_thread:
            worker_calls.append(threading.get_ident())
        return verify(token)

    verifier.verify = recording_verify  # type: ignore[method-assign]
    app = PomeriumMiddleware(Echo(), verifier)
    tokens = [fake.token(f"user{i}@example.com") for i in range(20)]
    answers: list[tuple[int, dict[str, str], bytes]] = []
    ticks = 0
    finished = anyio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not finished.is_set():
            ticks += 1
            await anyio.sleep(0.01)

    async def request(token: str) -> None:
        answers.append(answer(await call(app, http_scope(headers=[token_header(token)]))))

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        async with anyio.create_task_group() as requests:
            for token in tokens:
                requests.start_soon(request, token)
        finished.set()
    assert sorted(body for _, _, body in answers) == sorted(
        f"user{i}@example.com".encode() for i in range(20))
    assert slow_jwks.requests == 1  # one fetch for twenty waiting requests
    assert len(worker_calls) == 1  # by one worker thread: the others waited on the loop
    assert ticks >= 40  # the loop ran throughout the one-second fetch


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_failed_fetch_is_one_fetch_and_every_waiter_gets_503(
    fake: FakePomerium, anyio_backend: str
) -> None:
    with JWKSServer(lambda headers: (500, {}, b"down")) as server:
        server.delay = 0.3
        app = PomeriumMiddleware(Echo(), fake.verifier(jwks_url=server.url))
        statuses: list[int] = []

        async def request() -> None:
            statuses.append(answer(await call(app, http_scope(
                headers=[token_header(fake.token())])))[0])

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(request)
    assert statuses == [503] * 10 and server.requests == 1


def test_plain_asyncio_without_anyio(fake: FakePomerium) -> None:
    """The core does not need AnyIO: without it, asyncio's worker threads fetch."""
    program = textwrap.dedent("""
        import asyncio, json, sys
        sys.modules["anyio"] = None  # as if AnyIO were not installed
        from pomerium_wsgi import asgi
        from pomerium_wsgi.testing import FakePomerium
        from tests.helpers import JWKSServer, jwks_answer
        assert asgi.anyio is None
        fake = FakePomerium()

        async def hello(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def request(app, token):
            sent = []
            scope = {"type": "http", "method": "GET", "path": "/", "root_path": "",
                     "headers": [(b"x-pomerium-jwt-assertion", token.encode())]}
            async def receive():
                return {"type": "http.request", "body": b""}
            async def send(message):
                sent.append(message)
            await app(scope, receive, send)
            return sent[0]["status"]

        async def main(url):
            app = asgi.PomeriumMiddleware(hello, fake.verifier(jwks_url=url))
            ticks, done = 0, False
            async def ticker():
                nonlocal ticks
                while not done:
                    ticks += 1
                    await asyncio.sleep(0.01)
            tick = asyncio.ensure_future(ticker())
            statuses = await asyncio.gather(*(request(app, fake.token()) for _ in range(10)))
            done = True
            await tick
            return statuses, ticks

        with JWKSServer(lambda headers: jwks_answer(fake.jwks)) as server:
            server.delay = 0.5
            statuses, ticks = asyncio.run(main(server.url))
        print(json.dumps({"statuses": statuses, "ticks": ticks, "fetches": server.requests}))
    """)
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["statuses"] == [200] * 10 and outcome["fetches"] == 1
    assert outcome["ticks"] >= 20


def test_header_name_memo_is_bounded_and_still_strips_when_full(fake: FakePomerium) -> None:
    echo = Echo()
    app = PomeriumMiddleware(echo, fake.verifier())
    made_up = [(f"X-Made-Up-{i}", "1") for i in range(1100)]
    asgi_run(app, http_scope(headers=[token_header(fake.token()), *made_up]))
    assert len(app._kinds) == 1024  # made-up names cannot grow it without limit
    scope = http_scope(headers=[token_header(fake.token())])
    scope["headers"].append((b"X-Pomerium-Claim-Never-Seen", b"admin"))
    status, _, _ = answer(asgi_run(app, scope))
    assert status == 200
    assert [name for name, _ in echo.scopes[-1]["headers"]] == [b"x-pomerium-jwt-assertion"]


def test_wsgi_users_do_not_import_it() -> None:
    """``import pomerium_wsgi`` loads neither this module nor AnyIO."""
    program = ("import sys, pomerium_wsgi, pomerium_wsgi.testing; "
               "print(sorted(m for m in ('pomerium_wsgi.asgi', 'anyio') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
