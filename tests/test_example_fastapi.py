"""The FastAPI example, driven in process through Starlette's TestClient."""

from __future__ import annotations

import importlib
import sys
import types
import typing as t

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from pomerium_wsgi.testing import FakePomerium


@pytest.fixture
def example(pomerium: FakePomerium,
            monkeypatch: pytest.MonkeyPatch) -> t.Iterator[types.ModuleType]:
    with pomerium.serve() as url:
        monkeypatch.setenv("POMERIUM_AUDIENCE", pomerium.audience)
        monkeypatch.setenv("POMERIUM_JWKS_URL", url)
        sys.modules.pop("examples.fastapi.app", None)
        yield importlib.import_module("examples.fastapi.app")
        sys.modules.pop("examples.fastapi.app", None)


@pytest.mark.parametrize(
    ("path", "groups", "status"),
    [("/api/me", None, 401), ("/api/me", [], 200), ("/api/reports", ["staff"], 403),
     ("/api/reports", ["auditors"], 200), ("/api/admin/users", ["auditors"], 403),
     ("/api/admin/users", ["admins"], 200), ("/healthz", None, 200)],
    ids=["anonymous", "me", "reports-denied", "reports-auditor", "admin-denied",
         "admin-allowed", "healthz-exempt"],
)
def test_routes(example: types.ModuleType, pomerium: FakePomerium, path: str,
                groups: list[str] | None, status: int) -> None:
    headers = {"Accept": "application/json"}
    if groups is not None:
        headers.update(pomerium.headers("ada@example.com", groups))
    response = TestClient(example.app).get(path, headers=headers)
    assert response.status_code == status
    if status in (401, 403):
        assert response.headers["content-type"] == "application/problem+json"


def test_me_shows_the_identity(example: types.ModuleType, pomerium: FakePomerium) -> None:
    response = TestClient(example.app).get(
        "/api/me", headers=pomerium.headers("ada@example.com", ["staff"], name="Ada Lovelace"))
    assert response.json() == {"email": "ada@example.com", "name": "Ada Lovelace",
                               "groups": ["staff"]}


def test_websocket_echo(example: types.ModuleType, pomerium: FakePomerium) -> None:
    client = TestClient(example.app)
    with client.websocket_connect("/ws/echo", headers=pomerium.headers("ada@example.com")) as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "ada@example.com: hi"
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws/echo"):
        pass  # pragma: no cover - refused
    assert refused.value.code == 1008


def test_openapi_shows_the_scheme_on_guarded_routes(example: types.ModuleType,
                                                    pomerium: FakePomerium) -> None:
    document = TestClient(example.app).get("/openapi.json", headers=pomerium.headers()).json()
    assert document["components"]["securitySchemes"]["Pomerium"]["in"] == "header"
    guarded = {path for path, item in document["paths"].items() if item["get"].get("security")}
    assert guarded == {"/api/me", "/api/reports", "/api/admin/users"}
