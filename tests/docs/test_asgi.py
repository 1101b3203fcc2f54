"""docs/asgi.md: the FastAPI, Starlette and bare-ASGI examples do what the page says.

Each snippet is imported by path, fresh, and driven through Starlette's TestClient with
tokens from a FakePomerium. The snippets name ``app.example.com`` as a user would; the
environment supplies ``POMERIUM_JWKS_URL`` (as ``pomerium-wsgi dev`` does), pointing at
the fake's JWKS served over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import typing as t

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from pomerium_wsgi.testing import FakePomerium

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


def test_bare_asgi(keys: FakePomerium) -> None:
    client = TestClient(load_snippet("asgi_bare").app)
    response = client.get("/", headers=keys.headers("ada@example.com"))
    assert response.text == "Hello, ada@example.com"
    assert client.get("/").status_code == 401


def test_testing_recipe(pomerium: FakePomerium) -> None:
    recipe = load_snippet("fastapi_testing")
    recipe.test_with_real_tokens(pomerium)
    recipe.test_with_an_overridden_identity(pomerium)
