"""The Django example under a real gunicorn, a real uvicorn (its ASGI application), and
under ``pomerium-wsgi dev``, over HTTP.

The example reads ``POMERIUM_AUDIENCE`` / ``POMERIUM_JWKS_URL`` from the environment
(its ``settings.POMERIUM`` leaves them out); the JWKS comes from a FakePomerium served by
this test process, or by ``dev`` itself.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import typing as t

import pytest

from pomerium_wsgi.testing import FakePomerium
from tests.conftest import ROOT, free_port
from tests.servers import fetch, serve_example

pytestmark = pytest.mark.integration

WSGI_APP = "examples.django.project.wsgi:application"
ASGI_APP = "examples.django.project.asgi:application"


@pytest.fixture
def example_db(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A migrated SQLite database for the example, in a temporary directory."""
    db = tmp_path / "example.sqlite3"
    monkeypatch.setenv("DJANGO_EXAMPLE_DB", str(db))
    env = {**os.environ, "POMERIUM_AUDIENCE": "app.example.com"}
    subprocess.run([sys.executable, "examples/django/manage.py", "migrate", "-v", "0"],
                   cwd=ROOT, env=env, check=True, timeout=120)
    return db


def check_example_project(base: str, pomerium: FakePomerium) -> None:
    """What the example project must do under any real server: verify, map the user, strip
    forged claims, refuse foreign tokens without echoing them, reach 403.html and admin."""
    status, _, body = fetch(base + "/", pomerium.headers("ada@example.com", ["staff"]))
    assert status == 200 and "ada@example.com" in body

    status, _, body = fetch(base + "/api/me", {"Accept": "application/json",
                                               **pomerium.headers(groups=["admins"])})
    assert status == 200 and json.loads(body)["staff"] is True

    # Forged claim headers never reach a view; a foreign token is refused, not echoed.
    status, headers, body = fetch(base + "/api/me", {
        "Accept": "application/json", "X-Pomerium-Claim-Email": "root@example.com"})
    assert status == 401 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["reason"] == "missing"
    foreign = FakePomerium(pomerium.audience).token()
    status, _, body = fetch(base + "/api/me", {"X-Pomerium-Jwt-Assertion": foreign})
    assert status == 401 and foreign not in body

    token = pomerium.token("bob@example.com", ["staff"])
    status, headers, body = fetch(base + "/admins", {"X-Pomerium-Jwt-Assertion": token,
                                                     "Accept": "text/html"})
    assert status == 403 and "Ask an administrator" in body and token not in body

    status, _, body = fetch(base + "/admin/", pomerium.headers(groups=["admins"]))
    assert status == 200 and "Site administration" in body
    assert fetch(base + "/healthz")[:1] == (200,)


def test_example_under_gunicorn(example_db: pathlib.Path, pomerium: FakePomerium) -> None:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
               "--workers", "1", "--threads", "2", "--timeout", "60", WSGI_APP]
    with serve_example(command, port, pomerium) as base:
        check_example_project(base, pomerium)
    assert pomerium.jwks_requests >= 1


def test_example_under_uvicorn_as_asgi(example_db: pathlib.Path, pomerium: FakePomerium) -> None:
    """The same project through Django's ASGI handler: the middleware's async path
    verifies, maps the user, strips forged claims and lets PermissionDenied reach 403.html."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
               "--no-access-log", ASGI_APP]
    with serve_example(command, port, pomerium) as base:
        check_example_project(base, pomerium)
    assert pomerium.jwks_requests >= 1


def test_example_asgi_under_pomerium_wsgi_dev(example_db: pathlib.Path) -> None:
    """dev detects Django's ASGI handler and serves it under uvicorn."""
    port = free_port()
    command = [sys.executable, "-m", "pomerium_wsgi", "dev", ASGI_APP, "--port", str(port),
               "--email", "bob@example.com", "--group", "staff"]
    with serve_example(command, port, FakePomerium()) as base:
        status, _, body = fetch(base + "/api/me", {"Accept": "application/json"})
        assert status == 200 and json.loads(body)["email"] == "bob@example.com"
        assert fetch(base + "/admins")[0] == 403


def test_example_under_pomerium_wsgi_dev(example_db: pathlib.Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "pomerium_wsgi", "dev", WSGI_APP, "--port", str(port),
               "--email", "ada@example.com", "--group", "admins"]
    # serve_example's fake is not used by dev, which serves its own JWKS and exports it.
    with serve_example(command, port, FakePomerium()) as base:
        status, _, body = fetch(base + "/api/me", {"Accept": "application/json"})
        assert status == 200
        me: dict[str, t.Any] = json.loads(body)
        assert me["email"] == "ada@example.com" and me["groups"] == ["admins"]
        assert fetch(base + "/admins")[0] == 200


def test_example_under_dev_logs_each_audit_line_once(example_db: pathlib.Path) -> None:
    """dev shows the app's log lines through a root handler; the example's audit logger
    has its own, so without ``propagate: False`` every line came out twice."""
    port = free_port()
    command = [sys.executable, "-m", "pomerium_wsgi", "dev", WSGI_APP, "--port", str(port),
               "--email", "ada@example.com"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("POMERIUM_")}
    process = subprocess.Popen(command, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "dev did not start"
            try:
                status = fetch(f"http://127.0.0.1:{port}/api/me",
                               {"Accept": "application/json"})[0]
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    line = '{"event": "verified", "who": "ada@example.com", "path": "/api/me"}'
    assert output.count(line) == 1, output
