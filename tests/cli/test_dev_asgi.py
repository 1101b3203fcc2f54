"""``pomerium-wsgi dev`` serving an ASGI app under a real uvicorn, in a subprocess.

The app is a tiny pure ASGI 3 callable (no framework): it verifies the header dev injects
with the Verifier the environment configures, and echoes what it found.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import time
import typing as t

import pytest

from pomerium_wsgi.cli.dev_servers import DevASGI
from pomerium_wsgi.cli.dev_session import DevSession, DevUser, allowed_hosts
from pomerium_wsgi.testing import FakePomerium

from .support import ENV, Dev, run, write

ASGI_APP = '''
    import json
    import os

    from pomerium_wsgi import Verifier, VerificationError

    verifier = Verifier(os.environ["POMERIUM_AUDIENCE"], jwks_url=os.environ["POMERIUM_JWKS_URL"])


    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = dict(scope["headers"])
        token = headers.get(b"x-pomerium-jwt-assertion")
        try:
            email = verifier.verify(token.decode() if token else None).email
            status, body = 200, {"email": email, "server": "asgi"}
        except VerificationError as error:
            status, body = 401, {"reason": error.reason, "server": "asgi"}
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": data})


    class App:
        async def __call__(self, scope, receive, send):
            await app(scope, receive, send)


    instance = App()


    def create_app():
        return App()
'''


@pytest.fixture
def project(tmp_path: pathlib.Path) -> pathlib.Path:
    write(tmp_path, "asgiapp.py", ASGI_APP)
    return tmp_path


@pytest.mark.parametrize("spec, options", [("asgiapp:app", ()), ("asgiapp:instance", ()),
                                           ("asgiapp:create_app()", ()),
                                           ("asgiapp:app", ("--asgi",))],
                         ids=["function", "instance", "factory", "forced"])
def test_dev_serves_an_asgi_app_under_uvicorn(spec: str, options: tuple[str, ...],
                                              project: pathlib.Path) -> None:
    with Dev(spec, *options, "--email", "ada@example.com", "--group", "admins",
             cwd=project) as dev:
        answer = dev.wait_ready("/hello")
        dev.wait_for("GET /hello 200")
        assert dev.stop() == 0
    assert answer.status == 200, dev.stderr
    assert answer.json() == {"email": "ada@example.com", "server": "asgi"}
    assert answer.headers.get("server") is None  # uvicorn's own header is off
    assert "(ASGI, uvicorn" in dev.stdout and "stopped" in dev.stdout
    assert "GET /hello 200 as ada@example.com (admins)" in dev.stderr
    assert "Traceback" not in dev.stderr


def test_dev_asgi_anonymous_and_host_check(project: pathlib.Path) -> None:
    with Dev("asgiapp:app", "--anonymous", cwd=project) as dev:
        anonymous = dev.wait_ready("/who")
        refused = dev.request("/", {"Host": "attacker.example"})
        dev.wait_for("421 refused")
    assert anonymous.status == 401 and anonymous.json()["reason"] == "missing"
    assert "GET /who 401 anonymous" in dev.stderr
    assert refused.status == 421 and refused.headers["content-type"].startswith("text/plain")
    assert b"421 Misdirected Request" in refused.body


def test_dev_asgi_without_uvicorn_says_what_to_install(project: pathlib.Path) -> None:
    blocker = project / "blocker"
    blocker.mkdir()
    write(blocker, "uvicorn.py", "raise ImportError('uvicorn is not installed here')\n")
    env = {**ENV, "PYTHONPATH": f"{blocker}:{ENV['PYTHONPATH']}"}
    result = run("dev", "asgiapp:app", "--port", "0", cwd=project, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == ("pomerium-wsgi dev: error: serving an ASGI app needs "
                                     "uvicorn: pip install 'uvicorn[standard]'")



def test_dev_asgi_injects_into_websocket_scopes_and_checks_their_host() -> None:
    """The websocket path of the wrapper (uvicorn here has no websocket library)."""
    seen: list[dict[str, t.Any]] = []
    sent: list[dict[str, t.Any]] = []

    async def app(scope: t.Any, receive: t.Any, send: t.Any) -> None:
        seen.append(scope)
        await send({"type": "websocket.accept"})

    async def send(message: t.Any) -> None:
        sent.append(message)

    async def receive() -> t.Any:
        return {"type": "websocket.connect"}

    fake = FakePomerium()
    session = DevSession(fake, DevUser("ada@example.com", [], {}, 300, False),
                         "http://127.0.0.1:1/jwks.json", allowed_hosts("127.0.0.1", 8000,
                                                                        "127.0.0.1"))
    wrapped = DevASGI(app, session)
    try:
        for host in (b"localhost:8000", b"attacker.example"):
            scope = {"type": "websocket", "path": "/ws", "headers": [
                (b"host", host), (b"x-pomerium-jwt-assertion", b"forged")]}
            asyncio.run(wrapped(scope, receive, send))
    finally:
        session.close()
    (accepted,) = seen  # the foreign host never reached the app
    tokens = [v for k, v in accepted["headers"] if k == b"x-pomerium-jwt-assertion"]
    assert len(tokens) == 1 and tokens[0] != b"forged"
    assert fake.verifier().verify(tokens[0].decode()).email == "ada@example.com"
    assert sent == [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1008}]


def test_dev_asgi_reload_restarts_uvicorn_on_a_change(project: pathlib.Path) -> None:
    with Dev("asgiapp:app", "--reload", "--email", "ada@example.com", cwd=project) as dev:
        assert dev.wait_ready().json()["server"] == "asgi"
        source = project / "asgiapp.py"
        source.write_text(source.read_text().replace('"server": "asgi"', '"server": "v2"'))
        later = time.time() + 5
        os.utime(source, (later, later))
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(ConnectionError, OSError, ValueError):
                if dev.request().json()["server"] == "v2":
                    break
            assert time.monotonic() < deadline, dev.stderr
            time.sleep(0.2)
        assert dev.stop() == 0
    assert "asgiapp.py changed; restarting" in dev.stderr
    assert dev.stdout.count("pomerium-wsgi dev: stopped") == 1 and dev.all_gone()
