"""docs/getting-started.md: the first app and the first test do what the page says."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
from werkzeug.test import Client

from pomerium_wsgi.testing import FakePomerium

from ..conftest import ROOT
from .conftest import SNIPPETS, load_snippet, page, run_under_dev


def test_the_page_shows_its_snippets() -> None:
    text = page("getting-started")
    for name in ("wsgi_quickstart", "wsgi_dev", "testing_conftest", "testing_first_test"):
        assert f"snippets/{name}.py" in text
    assert "pomerium-wsgi dev" in text


def test_the_wrapped_app_answers_200_and_401(route_host: FakePomerium) -> None:
    client = Client(load_snippet("wsgi_quickstart").app)
    assert client.get("/", headers=route_host.headers("ada@example.com")).status_code == 200
    assert client.get("/").status_code == 401


def test_conftest_loads_the_plugin() -> None:
    assert load_snippet("testing_conftest").pytest_plugins == ["pomerium_wsgi.testing"]


def test_first_test_passes_as_the_reader_runs_it(tmp_path: pathlib.Path) -> None:
    """The two files, written where the page says, pass under pytest (a real run)."""
    for name in ("testing_conftest", "testing_first_test"):
        text = (SNIPPETS / f"{name}.py").read_text(encoding="utf-8")
        (tmp_path / text.splitlines()[0].removeprefix("# ")).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_first_test_names_its_file() -> None:
    # The page tells the reader which file each block goes to.
    assert (SNIPPETS / "testing_first_test.py").read_text().startswith("# test_app.py\n")
    assert (SNIPPETS / "testing_conftest.py").read_text().startswith("# conftest.py\n")


def test_the_app_runs_under_dev_as_the_page_says(tmp_path: pathlib.Path) -> None:
    """``pomerium-wsgi dev app:app --email ada@example.com`` greets Ada (real command)."""
    answers = run_under_dev("wsgi_dev", tmp_path, ["/", "/"],
                            "--email", "ada@example.com", "--group", "admins")
    assert answers == [(200, "Hello, ada@example.com\n")] * 2


def test_the_dev_settings_default_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POMERIUM_AUDIENCE", raising=False)
    monkeypatch.delenv("POMERIUM_JWKS_URL", raising=False)
    verifier = load_snippet("wsgi_dev").verifier
    assert verifier.keys.url == "https://app.example.com/.well-known/pomerium/jwks.json"
