"""What the documentation tests share: loading snippets by path, and the route's host.

Every page's Python example is a file in ``docs/snippets/``. :func:`load_snippet` imports
one by path, fresh each time (never cached in ``sys.modules``), so a test drives exactly
the code the page shows.

The examples are written as a user writes them, for the host Pomerium routes to the app:
``Verifier("app.example.com")`` fetches ``https://app.example.com/.well-known/pomerium/
jwks.json``. The :func:`route_host` fixture stands in for DNS and TLS: that one URL is
answered by a :class:`FakePomerium` JWKS server on 127.0.0.1, over real HTTP, and every
other URL is left alone. Everything past the socket (fetching, caching, parsing,
verifying) is the code that runs in production.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
import time
import typing as t
import urllib.error
import urllib.request

import pytest

from pomerium_wsgi.testing import FakePomerium

from ..conftest import ROOT, free_port

SNIPPETS = ROOT / "docs" / "snippets"
DOCS = ROOT / "docs"
PRODUCTION_JWKS_URL = "https://app.example.com/.well-known/pomerium/jwks.json"


def load_snippet(name: str) -> t.Any:
    """Import ``docs/snippets/<name>.py`` as a fresh module (replacing any earlier one)."""
    path = SNIPPETS / f"{name}.py"
    assert path.is_file(), f"no snippet {path}"
    spec = importlib.util.spec_from_file_location(f"docs_snippet_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Pyramid's Configurator looks its caller up there
    spec.loader.exec_module(module)
    return module


def page(name: str) -> str:
    """The text of ``docs/<name>.md``."""
    return (DOCS / f"{name}.md").read_text(encoding="utf-8")


#: Parametrizes a test over the three refusal formats every framework page names:
#: ``Accept`` -> the refusal's ``Content-Type``.
REFUSAL_FORMATS = pytest.mark.parametrize(
    ("accept", "content_type"),
    [("text/html", "text/html; charset=utf-8"), ("application/json", "application/problem+json"),
     ("*/*", "text/plain; charset=utf-8")],
    ids=["browser", "api-client", "other"])


def check_refusal_formats(get: t.Callable[..., t.Any], route_host: FakePomerium, accept: str,
                          content_type: str, reasons: tuple[str, ...] = ()) -> None:
    """A framework quick start's 401 (no token, ``/``) and 403 (``/admin`` for a user
    outside ``admins``) come in *content_type* for *accept*, never cached, and the
    problem document says what to do (and carries one of *reasons*, when given)."""
    for path, headers, status in [("/", {}, 401),
                                  ("/admin", route_host.headers("bob@example.com"), 403)]:
        response = get(path, headers={"Accept": accept, **headers})
        assert response.status_code == status
        assert response.headers["Content-Type"] == content_type
        assert response.headers["Cache-Control"] == "no-store"
        if accept == "application/json":
            assert response.json["hint"]  # what the person can do about it
            if reasons:
                assert response.json["reason"] in reasons


@pytest.fixture
def route_host(
    pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch
) -> t.Iterator[FakePomerium]:
    """The fake, serving the keys at Pomerium's JWKS URL for ``app.example.com``."""
    local = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    original = urllib.request.OpenerDirector.open

    def open_(self: urllib.request.OpenerDirector, fullurl: t.Any, *args: t.Any,
              **kwargs: t.Any) -> t.Any:
        url = fullurl if isinstance(fullurl, str) else fullurl.full_url
        if url == PRODUCTION_JWKS_URL and self is not local:
            headers = {} if isinstance(fullurl, str) else dict(fullurl.header_items())
            return original(local, urllib.request.Request(served, headers=headers),
                            *args, **kwargs)
        return original(self, fullurl, *args, **kwargs)

    with pomerium.serve() as served:
        monkeypatch.setattr(urllib.request.OpenerDirector, "open", open_)
        yield pomerium


@pytest.fixture
def python_path() -> t.Iterator[None]:
    """The repository root importable (the snippets' tests import ``examples.*``)."""
    sys.path.insert(0, str(ROOT))
    try:
        yield
    finally:
        sys.path.remove(str(ROOT))


def run_under_dev(snippet: str, directory: pathlib.Path, paths: list[str],
                  *options: str, spec: str = "app:app") -> list[tuple[int, str]]:
    """Save a snippet as ``app.py`` in *directory*, serve it with the real
    ``pomerium-wsgi dev app:app`` (or *spec*; as a reader would), and GET each path once."""
    (directory / "app.py").write_text((SNIPPETS / f"{snippet}.py").read_text())
    port = free_port()
    command = [sys.executable, "-m", "pomerium_wsgi", "dev", spec, "--port", str(port),
               *options]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("POMERIUM_AUDIENCE", None)
    env.pop("POMERIUM_JWKS_URL", None)
    process = subprocess.Popen(command, cwd=directory, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    answers: list[tuple[int, str]] = []
    try:
        deadline = time.monotonic() + 60
        for path in paths:
            while True:
                assert process.poll() is None, f"dev exited: {process.communicate()[0]}"
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                                timeout=10) as response:
                        answers.append((response.status, response.read().decode()))
                    break
                except urllib.error.HTTPError as exc:
                    answers.append((exc.code, exc.read().decode()))
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert time.monotonic() < deadline, "dev did not answer within 60 s"
                    time.sleep(0.2)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=20)
    return answers
