"""The Flask example served by a real gunicorn process, checked over HTTP on loopback.

The JWKS comes from a FakePomerium served by this test process; the gunicorn worker
fetches it like it would fetch Pomerium's endpoint, configured only through the
``POMERIUM_AUDIENCE`` and ``POMERIUM_JWKS_URL`` environment variables.
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
    """Base URL of the Flask example under gunicorn, verifying against *pomerium*."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
               "--workers", "1", "--threads", "2", "--timeout", "60", "examples.flask.app:app"]
    with serve_example(command, port, pomerium) as base:
        yield base


def test_example_under_gunicorn(served_example: str, pomerium: FakePomerium) -> None:
    base = served_example

    # 200: a verified identity, shown on the page and by the JSON API.
    status, _, body = fetch(base + "/", pomerium.headers("ada@example.com", ["staff"]))
    assert status == 200 and "ada@example.com" in body
    status, _, body = fetch(base + "/api/me", {"Accept": "application/json",
                                               **pomerium.headers("ada@example.com")})
    assert status == 200 and json.loads(body)["email"] == "ada@example.com"

    # 401: no token, or a token the app cannot trust.
    status, headers, body = fetch(base + "/", {"Accept": "application/json"})
    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["reason"] == "missing"
    foreign = FakePomerium(pomerium.audience).token()
    status, _, body = fetch(base + "/api/me", {"Accept": "application/json",
                                               "X-Pomerium-Jwt-Assertion": foreign})
    assert status == 401 and json.loads(body)["reason"] == "unknown_key"
    assert foreign not in body

    # 403: verified, but not in the group; the app's own handler renders the page.
    token = pomerium.token("bob@example.com", ["staff"])
    status, headers, body = fetch(base + "/admin", {"X-Pomerium-Jwt-Assertion": token,
                                                    "Accept": "text/html"})
    assert status == 403
    assert headers["Cache-Control"] == "no-store"
    assert "Ask an administrator" in body and token not in body

    status, _, body = fetch(base + "/admin", pomerium.headers(groups=["admins"]))
    assert status == 200 and "Welcome to the admin area" in body

    assert fetch(base + "/healthz")[:1] == (200,)
    # The keys came over HTTP from the fake, as they would from Pomerium.
    assert pomerium.jwks_requests >= 1
