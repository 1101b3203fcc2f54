"""docs/getting-started.md: the first app and the first test do what the page says."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
from werkzeug.test import Client

from pomerium_wsgi.testing import FakePomerium

from .conftest import SNIPPETS, load_snippet, page, run_under_dev


def test_the_page_shows_its_snippets() -> None:
    text = page("getting-started")
    for name in ("wsgi_quickstart", "testing_first_test"):
        assert f"snippets/{name}.py" in text
    assert "pomerium-wsgi dev app:app --email ada@example.com --group admins" in text
    assert "pytest_plugins" not in text  # the fixture comes from the plugin's entry point


def test_the_wrapped_app_answers_200_and_401(route_host: FakePomerium) -> None:
    client = Client(load_snippet("wsgi_quickstart").app)
    assert client.get("/", headers=route_host.headers("ada@example.com")).status_code == 200
    assert client.get("/").status_code == 401


def test_first_test_passes_as_the_reader_runs_it(tmp_path: pathlib.Path) -> None:
    """The quick start saved as app.py and the test beside it, with no conftest.py, pass
    under pytest (a real run: the ``pomerium`` fixture comes from the plugin's entry
    point)."""
    (tmp_path / "app.py").write_text((SNIPPETS / "wsgi_quickstart.py").read_text())
    text = (SNIPPETS / "testing_first_test.py").read_text(encoding="utf-8")
    (tmp_path / text.splitlines()[0].removeprefix("# ")).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("POMERIUM_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert not (tmp_path / "conftest.py").exists()


def test_first_test_names_its_file() -> None:
    # The page tells the reader which file the block goes to.
    assert (SNIPPETS / "testing_first_test.py").read_text().startswith("# test_app.py\n")


def test_the_quick_start_runs_under_dev_unchanged(tmp_path: pathlib.Path) -> None:
    """``pomerium-wsgi dev app:app --email ada@example.com`` greets Ada (real command)."""
    answers = run_under_dev("wsgi_quickstart", tmp_path, ["/", "/"],
                            "--email", "ada@example.com", "--group", "admins")
    assert answers == [(200, "Hello, ada@example.com\n")] * 2


def test_the_quick_start_defaults_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POMERIUM_AUDIENCE", raising=False)
    monkeypatch.delenv("POMERIUM_JWKS_URL", raising=False)
    verifier = load_snippet("wsgi_quickstart").app.verifier
    assert verifier.keys.url == "https://app.example.com/.well-known/pomerium/jwks.json"
