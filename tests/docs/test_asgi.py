"""docs/asgi.md: the FastAPI, Starlette and bare-ASGI examples do what the page says.

Each snippet is imported by path, fresh, and driven through Starlette's TestClient with
tokens from a FakePomerium. The snippets name ``app.example.com`` as a user would; the
environment supplies ``POMERIUM_JWKS_URL`` (as ``pomerium-wsgi dev`` does), pointing at
the fake's JWKS served over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import shlex
import subprocess
import sys
import typing as t

import pytest
import starlette.testclient
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from fastapi_pomerium import Pomerium
from pomerium_wsgi.testing import FakePomerium

from .conftest import page, run_under_dev

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SNIPPETS = ROOT / "docs" / "snippets"


def load_snippet(name: str) -> t.Any:
    """Import ``docs/snippets/<name>.py`` as a fresh module."""
    path = SNIPPETS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_snippet_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def keys(pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch) -> t.Iterator[FakePomerium]:
    """The fake's keys served on loopback and named by POMERIUM_JWKS_URL."""
    with pomerium.serve() as url:
        monkeypatch.setenv("POMERIUM_JWKS_URL", url)
        yield pomerium


def test_the_page_shows_every_snippet() -> None:
    text = (ROOT / "docs" / "asgi.md").read_text(encoding="utf-8")
    for path in sorted(SNIPPETS.glob("*.py")):
        if path.name.startswith(("asgi_", "fastapi_")):
            assert f"snippets/{path.name}" in text, path.name


@pytest.mark.parametrize(
    ("path", "groups", "status", "body"),
    [("/", [], 200, "Hello, ada@example.com"), ("/admin", ["admins"], 200, "Welcome, admin"),
     ("/admin", ["staff"], 403, None)],
    ids=["home", "admin-in-group", "admin-not-in-group"],
)
def test_quickstart(keys: FakePomerium, path: str, groups: list[str], status: int,
                    body: str | None) -> None:
    client = TestClient(load_snippet("fastapi_quickstart").app)
    response = client.get(path, headers=keys.headers("ada@example.com", groups))
    assert response.status_code == status
    if body is not None:
        assert response.json() == body


def test_quickstart_refuses_without_a_token_but_serves_healthz(keys: FakePomerium) -> None:
    client = TestClient(load_snippet("fastapi_quickstart").app)
    response = client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.json()["reason"] == "missing"
    assert client.get("/healthz").json() == "ok"


@pytest.mark.parametrize(
    ("path", "email", "groups", "claims", "status"),
    [("/", None, [], {}, 200), ("/reports", "ada@example.com", [], {}, 200),
     ("/reports", "eve@contractor.org", [], {"department": "finance"}, 200),
     ("/reports", "eve@contractor.org", [], {}, 403), ("/reports", None, [], {}, 401),
     ("/admin/users", "ada@example.com", ["admins"], {}, 200),
     ("/admin/users", "eve@contractor.org", ["admins"], {}, 403)],
    ids=["anonymous-home", "reports-domain", "reports-claim", "reports-other",
         "reports-anonymous", "router-admin", "router-admin-other-domain"],
)
def test_dependencies(keys: FakePomerium, path: str, email: str | None, groups: list[str],
                      claims: dict[str, str], status: int) -> None:
    client = TestClient(load_snippet("fastapi_dependencies").app)
    headers = keys.headers(email, groups, **claims) if email else {}
    response = client.get(path, headers=headers)
    assert response.status_code == status
    if path == "/":
        assert response.json() == "Hello, stranger"


def test_websocket(keys: FakePomerium) -> None:
    client = TestClient(load_snippet("fastapi_websocket").app)
    with client.websocket_connect("/chat", headers=keys.headers("ada@example.com")) as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "ada@example.com: hi"
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/chat"):
        pass  # pragma: no cover - refused
    assert refused.value.code == 1008


def test_starlette(keys: FakePomerium) -> None:
    client = TestClient(load_snippet("asgi_starlette").app)
    response = client.get("/whoami", headers=keys.headers("ada@example.com", ["staff"]))
    assert response.json() == {"email": "ada@example.com", "groups": ["staff"]}
    assert client.get("/whoami").status_code == 401
    assert client.get("/healthz").text == "ok"  # exempt: no token


def test_bare_asgi(keys: FakePomerium) -> None:
    client = TestClient(load_snippet("asgi_bare").app)
    response = client.get("/", headers=keys.headers("ada@example.com"))
    assert response.text == "Hello, ada@example.com"
    assert client.get("/").status_code == 401


def test_testing_recipe(pomerium: FakePomerium) -> None:
    recipe = load_snippet("fastapi_testing")
    recipe.test_with_real_tokens(pomerium)
    recipe.test_with_an_overridden_identity(pomerium)


def test_quickstart_runs_under_dev_as_the_page_says(tmp_path: pathlib.Path) -> None:
    """The page's ``pomerium-wsgi dev app:app ...`` line, run for real on the quick start
    saved as app.py; then with ``--group staff`` (403 on /admin) and ``--anonymous``."""
    prefix = "$ pomerium-wsgi dev app:app"
    line = next(s for s in page("asgi").splitlines() if s.startswith(prefix))
    words = shlex.split(line[2:])
    paths = ["/", "/admin", "/healthz", "/docs", "/openapi.json"]
    answers = run_under_dev("fastapi_quickstart", tmp_path, paths, *words[3:])
    assert [status for status, _ in answers] == [200, 200, 200, 200, 200]
    assert answers[0][1] == '"Hello, ada@example.com"'
    text = " ".join(page("asgi").split())
    assert "start it with `--group staff` to see `/admin` answer `403`" in text
    staff = run_under_dev("fastapi_quickstart", tmp_path, ["/", "/admin"],
                          "--email", "bob@example.com", "--group", "staff")
    assert [status for status, _ in staff] == [200, 403]
    assert "or with `--anonymous` to see the `401`" in text
    anonymous = run_under_dev("fastapi_quickstart", tmp_path, ["/", "/docs", "/healthz"],
                              "--anonymous")
    assert [status for status, _ in anonymous] == [401, 401, 200]


@pytest.mark.parametrize(
    ("accept", "content_type", "marker"),
    [("text/html,application/xhtml+xml,*/*;q=0.8", "text/html; charset=utf-8", "<h1>"),
     ("application/json", "application/problem+json", '"hint":'),
     ("*/*", "text/plain; charset=utf-8", "(reason: ")],
    ids=["browser", "api-client", "other"])
def test_refusals_come_in_three_formats(keys: FakePomerium, accept: str, content_type: str,
                                        marker: str) -> None:
    """HTML for browsers, problem+json with a hint for API clients, text otherwise: for
    the middleware's 401 and for a requirement's 403 alike."""
    client = TestClient(load_snippet("fastapi_quickstart").app)
    missing = client.get("/", headers={"Accept": accept})
    staff = {"Accept": accept, **keys.headers("bob@example.com", ["staff"])}
    forbidden = client.get("/admin", headers=staff)
    for response, status, reason in ((missing, 401, "missing"), (forbidden, 403, "forbidden")):
        assert response.status_code == status
        assert response.headers["content-type"] == content_type
        assert marker in response.text and reason in response.text


def test_docs_pages_are_guarded_unless_exempt(keys: FakePomerium) -> None:
    client = TestClient(load_snippet("fastapi_quickstart").app)
    for path in ("/docs", "/openapi.json"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=keys.headers()).status_code == 200
    assert "add them to `exempt` to publish them" in " ".join(page("asgi").split())
    app = FastAPI()
    Pomerium(app, audience="app.example.com", exempt=["/docs", "/openapi.json"])
    published = TestClient(app)
    assert published.get("/docs").status_code == 200
    assert published.get("/openapi.json").json()["components"]["securitySchemes"]


def test_testing_recipe_runs_as_a_file_with_pytest(tmp_path: pathlib.Path) -> None:
    """Saved as test_api.py, alone in a directory (no conftest.py), ``pytest`` passes it:
    the fixture comes from the installed plugin."""
    (tmp_path / "test_api.py").write_text((SNIPPETS / "fastapi_testing.py").read_text())
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-W", "error", "test_api.py"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "no `conftest.py` line is needed" in " ".join(page("asgi").split())


def test_testing_install_line_names_the_testclients_http_client() -> None:
    assert "$ pip install pytest httpx2" in page("asgi")
    assert vars(starlette.testclient)["httpx"].__name__ == "httpx2"


def test_overridden_identity_still_meets_the_requirements(pomerium: FakePomerium) -> None:
    """'requirements depend on it, so they still check the overridden identity'."""
    recipe = load_snippet("fastapi_testing")
    app = recipe.create_app(verifier=pomerium.verifier(), optional=True)
    bob = pomerium.verifier().verify(pomerium.token("bob@example.com", ["staff"]))
    app.dependency_overrides[recipe.current_identity] = lambda: bob
    client = TestClient(app)
    assert client.get("/me").json() == "bob@example.com"
    assert client.get("/admin").status_code == 403


@pytest.mark.parametrize("snippet", ["asgi_starlette", "asgi_bare"])
def test_starlette_and_bare_apps_run_under_dev(tmp_path: pathlib.Path, snippet: str) -> None:
    """Both read the JWKS URL from the environment, so dev serves them unchanged."""
    answers = run_under_dev(snippet, tmp_path, ["/whoami"], "--email", "ada@example.com")
    assert answers[0][0] == 200 and "ada@example.com" in answers[0][1]


def test_readme_section_runs_under_dev_as_it_says(tmp_path: pathlib.Path) -> None:
    """The README's FastAPI block opens the quick start; the dev command the README gives
    serves the quick start (a user in no group: / greets, /admin answers 403)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## FastAPI and ASGI\n"):]
    section = section[:section.index("\n## ", 1)]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert (SNIPPETS / "fastapi_quickstart.py").read_text(encoding="utf-8").startswith(block)
    command = re.search(r"`pomerium-wsgi dev ([^`]*)`", " ".join(section.split()))
    assert command is not None
    spec, *options = shlex.split(command.group(1))
    assert spec == "app:app"
    answers = run_under_dev("fastapi_quickstart", tmp_path, ["/", "/admin"], *options)
    assert [status for status, _ in answers] == [200, 403]
    assert "`pip install 'uvicorn[standard]'`" in " ".join(section.split())
