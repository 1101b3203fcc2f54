"""The FastAPI example served by a real uvicorn process, over HTTP and a real WebSocket.

The JWKS comes from a FakePomerium served by this test process; the uvicorn worker
fetches it (in a worker thread, off its event loop) as it would fetch Pomerium's
endpoint, configured only through ``POMERIUM_AUDIENCE`` and ``POMERIUM_JWKS_URL``.
Tokens come from FakePomerium and from PyJWT.

The example also runs under the ``pomerium-wsgi dev`` command its README gives (the
installed console script, serving its own JWKS and injecting a token), unchanged.
"""

from __future__ import annotations

import json
import pathlib
import sys
import typing as t

import jwt as pyjwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pomerium_wsgi.testing import FakePomerium
from tests.conftest import ROOT, free_port
from tests.servers import fetch, serve_example

pytestmark = pytest.mark.integration


@pytest.fixture
def served(pomerium: FakePomerium) -> t.Iterator[str]:
    """Base URL of the FastAPI example under uvicorn, verifying against *pomerium*."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
               "--no-access-log", "examples.fastapi.app:app"]
    with serve_example(command, port, pomerium) as base:
        yield base


def test_http_under_uvicorn(served: str, pomerium: FakePomerium) -> None:
    json_accept = {"Accept": "application/json"}
    status, _, body = fetch(served + "/api/me", pomerium.headers("ada@example.com", ["staff"]))
    assert status == 200 and json.loads(body)["email"] == "ada@example.com"

    status, headers, body = fetch(served + "/api/me", json_accept)
    assert status == 401 and headers["Content-Type"] == "application/problem+json"
    assert headers["WWW-Authenticate"] == 'Pomerium realm="pomerium"'
    assert json.loads(body)["reason"] == "missing"

    token = pomerium.token("bob@example.com", ["staff"])
    status, headers, body = fetch(served + "/api/admin/users",
                                  {**json_accept, "X-Pomerium-Jwt-Assertion": token})
    assert status == 403 and json.loads(body)["reason"] == "forbidden" and token not in body

    key = pomerium.signing_key  # a token minted by another library, Pomerium's shape
    minted = pyjwt.encode(pomerium.claims("ada@example.com", ["admins"]), key.private_pem(),
                          algorithm="ES256", headers={"kid": key.kid})
    status, _, body = fetch(served + "/api/admin/users", {"X-Pomerium-Jwt-Assertion": minted})
    assert status == 200 and "ada@example.com" in json.loads(body)
    assert pomerium.jwks_requests >= 1  # the keys came over HTTP


def test_websocket_under_uvicorn(served: str, pomerium: FakePomerium) -> None:
    url = served.replace("http://", "ws://") + "/ws/echo"
    with connect(url, additional_headers=pomerium.headers("ada@example.com"),
                 open_timeout=30) as websocket:
        websocket.send("hello")
        assert websocket.recv(timeout=30) == "ada@example.com: hello"
        websocket.send("again")
        assert websocket.recv(timeout=30) == "ada@example.com: again"

    for headers in ({}, {"X-Pomerium-Jwt-Assertion": FakePomerium().token()}):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers=headers, open_timeout=30)
        assert refused.value.response.status_code == 403


DEV = pathlib.Path(sys.executable).with_name("pomerium-wsgi")


@pytest.mark.parametrize(
    ("identity", "statuses", "websocket"),
    [(("--email", "ada@example.com", "--group", "admins"), (200, 200, 200), 101),
     (("--email", "bob@example.com", "--group", "staff"), (200, 403, 403), 101),
     (("--anonymous",), (401, 401, 401), 403)],
    ids=["member", "not-member", "anonymous"])
def test_example_under_pomerium_wsgi_dev(identity: tuple[str, ...],
                                         statuses: tuple[int, int, int],
                                         websocket: int) -> None:
    """``pomerium-wsgi dev examples.fastapi.app:app ...``, as the README says: real HTTP
    for a member, a non-member and no identity, and a real WebSocket handshake."""
    readme = (ROOT / "examples" / "fastapi" / "README.md").read_text(encoding="utf-8")
    assert ("$ pomerium-wsgi dev examples.fastapi.app:app --email ada@example.com "
            "--group admins\n") in readme
    port = free_port()
    command = [str(DEV), "dev", "examples.fastapi.app:app", "--port", str(port), *identity]
    # serve_example's fake is not used by dev, which serves its own JWKS and exports it.
    with serve_example(command, port, FakePomerium()) as base:
        answers = [fetch(base + path, {"Accept": "application/json"})
                   for path in ("/api/me", "/api/reports", "/api/admin/users")]
        assert tuple(status for status, _, _ in answers) == statuses
        if statuses[0] == 200:
            assert json.loads(answers[0][2])["email"] == identity[1]
        url = base.replace("http://", "ws://") + "/ws/echo"
        if websocket == 101:
            with connect(url, open_timeout=30) as echo:
                echo.send("hello")
                assert echo.recv(timeout=30) == f"{identity[1]}: hello"
        else:
            with pytest.raises(InvalidStatus) as refused:
                connect(url, open_timeout=30)
            assert refused.value.response.status_code == websocket
