"""The Bottle example served by a real waitress process, checked over HTTP on loopback.

The JWKS comes from a FakePomerium served by this test process; the server process
fetches it like it would fetch Pomerium's endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.error
import urllib.request

import pytest

from pomerium_wsgi.testing import FakePomerium
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT = 60.0


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """GET *url*; returns (status, headers, body) for success and HTTP errors alike."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read().decode()


def wait_until_ready(process: subprocess.Popen[bytes], base: str, log: t.IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"waitress exited with {process.returncode}: {log.read().decode()}")
        try:
            if fetch(base + "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    log.seek(0)
    pytest.fail(f"waitress did not answer within {STARTUP_TIMEOUT}s: {log.read().decode()}")


@pytest.fixture
def served_example(pomerium: FakePomerium) -> t.Iterator[str]:
    """Base URL of the example app under waitress, verifying against *pomerium*."""
    port = free_port()
    with pomerium.serve() as jwks_url, tempfile.TemporaryFile() as log:
        env = {**os.environ, "POMERIUM_AUDIENCE": pomerium.audience,
               "POMERIUM_JWKS_URL": jwks_url, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(
            [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=2",
             "examples.bottle.app:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(process, base, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)


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
