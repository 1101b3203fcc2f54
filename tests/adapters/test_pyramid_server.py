"""The Pyramid example served by a real waitress process, checked over HTTP on loopback.

Two ways in, both as a deployment would run them: ``pserve development.ini`` (the .ini
file's settings, overridden by the environment) and ``python -m waitress
examples.pyramid.app:app``. The JWKS comes from a FakePomerium served by this test
process; the server process fetches it like it would fetch Pomerium's endpoint.
"""

from __future__ import annotations

import json
import pathlib
import sys
import typing as t

import pytest

from pomerium_wsgi.testing import FakePomerium
from tests.conftest import ROOT, free_port
from tests.servers import fetch, serve_example

pytestmark = pytest.mark.integration

INI = ROOT / "examples" / "pyramid" / "development.ini"


def command(how: str, port: int, workdir: pathlib.Path) -> list[str]:
    if how == "pserve-ini":
        # The example's own [app:main] (its settings, then the environment over them),
        # with only the listening port changed: PasteDeploy's ``config:`` reference.
        ini = workdir / "test.ini"
        ini.write_text(f"[app:main]\nuse = config:{INI}#main\n\n"
                       f"[server:main]\nuse = egg:waitress#main\nlisten = 127.0.0.1:{port}\n")
        return [sys.executable, "-m", "pyramid.scripts.pserve", str(ini)]
    return [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=2",
            "examples.pyramid.app:app"]


@pytest.fixture(params=["pserve-ini", "waitress-module"])
def served_example(request: pytest.FixtureRequest, pomerium: FakePomerium,
                   tmp_path: pathlib.Path) -> t.Iterator[str]:
    """Base URL of the example app under waitress, verifying against *pomerium*."""
    port = free_port()
    with serve_example(command(request.param, port, tmp_path), port, pomerium) as base:
        yield base


def test_example_under_waitress(served_example: str, pomerium: FakePomerium) -> None:
    base = served_example
    json_accept = {"Accept": "application/json"}

    status, _, body = fetch(base + "/", {**json_accept,
                                         **pomerium.headers("ada@example.com", ["staff"])})
    assert status == 200
    assert json.loads(body)["email"] == "ada@example.com"

    status, headers, body = fetch(base + "/", json_accept)
    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["WWW-Authenticate"] == 'Pomerium realm="pomerium"'
    assert json.loads(body)["reason"] == "missing"

    # A forged claim header is no identity.
    status, _, _ = fetch(base + "/", {"X-Pomerium-Claim-Email": "ada@example.com"})
    assert status == 401

    token = pomerium.token("bob@example.com", ["staff"])
    status, headers, body = fetch(base + "/admin", {"X-Pomerium-Jwt-Assertion": token})
    assert status == 403
    assert headers["Cache-Control"] == "no-store"
    assert "'admin'" in body and token not in body

    status, _, body = fetch(base + "/admin", pomerium.headers(groups=["admins"]))
    assert status == 200 and body.startswith("Welcome to the admin area")

    assert fetch(base + "/reports", pomerium.headers(groups=["finance"]))[0] == 200
    assert fetch(base + "/reports", pomerium.headers(groups=["staff"]))[0] == 403

    assert fetch(base + "/healthz")[:1] == (200,)
    # The keys came over HTTP from the fake, as they would from Pomerium.
    assert pomerium.jwks_requests >= 1
