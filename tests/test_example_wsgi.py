"""The plain-WSGI example behind the README's demo command, checked end to end."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
from werkzeug.test import Client

from pomerium_wsgi.testing import FakePomerium


@pytest.fixture
def example(pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    with pomerium.serve() as url:
        monkeypatch.setenv("POMERIUM_AUDIENCE", pomerium.audience)
        monkeypatch.setenv("POMERIUM_JWKS_URL", url)
        sys.modules.pop("examples.wsgi.app", None)
        module = importlib.import_module("examples.wsgi.app")
        yield module
        sys.modules.pop("examples.wsgi.app", None)


def test_home_shows_verified_identity(example: types.ModuleType, pomerium: FakePomerium) -> None:
    client = Client(example.app)
    page = client.get("/", headers=pomerium.headers("ada@example.com", ["staff"],
                                                    name="Ada Lovelace"))
    assert page.status_code == 200 and "Hello, Ada Lovelace" in page.get_data(as_text=True)
    api = client.get("/", headers={"Accept": "application/json",
                                   **pomerium.headers("ada@example.com", ["staff"])})
    assert api.json["email"] == "ada@example.com" and api.json["groups"] == ["staff"]


@pytest.mark.parametrize(
    "path, groups, status",
    [("/", None, 401), ("/admin", ["staff"], 403), ("/admin", ["admins"], 200),
     ("/healthz", None, 200)],
    ids=["anonymous", "admin-denied", "admin-allowed", "healthz-exempt"],
)
def test_routes(path: str, groups: list[str] | None, status: int,
                example: types.ModuleType, pomerium: FakePomerium) -> None:
    headers = pomerium.headers(groups=groups) if groups is not None else {}
    assert Client(example.app).get(path, headers=headers).status_code == status
