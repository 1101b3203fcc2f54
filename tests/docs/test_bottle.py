"""docs/bottle.md: the Bottle examples do what the page says."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from pomerium_wsgi.testing import FakePomerium

from .conftest import REFUSAL_FORMATS, check_refusal_formats, load_snippet, page

pytest.importorskip("bottle", reason="the Bottle guide needs the [bottle] extra")


def test_the_page_shows_its_snippets() -> None:
    text = page("bottle")
    for name in ("bottle_quickstart", "bottle_requires"):
        assert f"snippets/{name}.py" in text


@pytest.mark.parametrize(
    ("path", "groups", "status"),
    [("/", [], 200), ("/admin", ["admins"], 200), ("/admin", ["staff"], 403)],
    ids=["home", "admin-in-group", "admin-not-in-group"],
)
def test_quickstart(route_host: FakePomerium, path: str, groups: list[str], status: int) -> None:
    client = Client(load_snippet("bottle_quickstart").app)
    response = client.get(path, headers=route_host.headers("ada@example.com", groups))
    assert response.status_code == status
    if path == "/":
        assert response.json == {"email": "ada@example.com"}


def test_quickstart_refuses_without_a_token_but_serves_healthz(route_host: FakePomerium) -> None:
    client = Client(load_snippet("bottle_quickstart").app)
    assert client.get("/").status_code == 401
    assert client.get("/admin").status_code == 401
    assert (client.get("/healthz").status_code, client.get("/healthz").text) == (200, "ok")


@pytest.mark.parametrize(
    ("email", "groups", "status"),
    [("bob@example.com", ["finance"], 200), ("carol@auditor.example", [], 200),
     ("eve@example.com", ["staff"], 403)],
    ids=["finance-group", "auditor-domain", "neither"],
)
def test_requires(route_host: FakePomerium, email: str, groups: list[str], status: int) -> None:
    client = Client(load_snippet("bottle_requires").app)
    response = client.get("/reports", headers=route_host.headers(email, groups))
    assert response.status_code == status
    if status == 200:
        assert response.text == f"reports for {email}"
    else:
        assert response.text == "Not for you (forbidden)"
        assert response.headers["Cache-Control"] == "no-store"


@REFUSAL_FORMATS
def test_default_refusals_come_in_the_formats_the_page_names(
        route_host: FakePomerium, accept: str, content_type: str) -> None:
    assert "an HTML page for browsers" in page("bottle")
    client = Client(load_snippet("bottle_quickstart").app)
    check_refusal_formats(client.get, route_host, accept, content_type)


def test_options_left_out_come_from_the_environment(
        pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "`pomerium-wsgi dev app:app --email ada@example.com --group admins`" in page("bottle")
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)
        client = Client(load_snippet("bottle_quickstart").app)
        response = client.get("/", headers=pomerium.headers("ada@example.com"))
    assert (response.status_code, response.json) == (200, {"email": "ada@example.com"})
