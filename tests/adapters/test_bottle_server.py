"""The Bottle example served by a real waitress process, checked over HTTP on loopback.

The JWKS comes from a FakePomerium served by this test process; the server process
fetches it like it would fetch Pomerium's endpoint.
"""

from __future__ import annotations

import json
import sys
import typing as t

import pytest

from pomerium_wsgi.testing import FakePomerium
from tests.conftest import free_port
from tests.servers import fetch, serve_example

pytestmark = pytest.mark.integration



@pytest.fixture
def served_example(pomerium: FakePomerium) -> t.Iterator[str]:
    """Base URL of the example app under waitress, verifying against *pomerium*."""
    port = free_port()
    command = [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=2",
               "examples.bottle.app:app"]
    with serve_example(command, port, pomerium) as base:
        yield base


def test_example_under_waitress(served_example: str, pomerium: FakePomerium) -> None:
    base = served_example
    status, _, body = fetch(base + "/", {"Accept": "application/json",
                                         **pomerium.headers("ada@example.com", ["staff"])})
    assert status == 200
    assert json.loads(body)["email"] == "ada@example.com"

    status, headers, body = fetch(base + "/", {"Accept": "application/json"})
    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["reason"] == "missing"

    token = pomerium.token("bob@example.com", ["staff"])
    status, headers, body = fetch(base + "/admin", {"X-Pomerium-Jwt-Assertion": token})
    assert status == 403
    assert headers["Cache-Control"] == "no-store"
    assert "admins" in body and token not in body

    status, _, body = fetch(base + "/admin", pomerium.headers(groups=["admins"]))
    assert status == 200 and body.startswith("Welcome to the admin area")

    assert fetch(base + "/healthz")[:1] == (200,)
    # The keys came over HTTP from the fake, as they would from Pomerium.
    assert pomerium.jwks_requests >= 1
