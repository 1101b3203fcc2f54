"""docs/pyramid.md: the Pyramid examples do what the page says."""

from __future__ import annotations

import configparser

import pytest
from werkzeug.test import Client

from pomerium_wsgi.testing import FakePomerium

from .conftest import SNIPPETS, load_snippet, page

pytest.importorskip("pyramid", reason="the Pyramid guide needs the [pyramid] extra")


def test_the_page_shows_its_snippets() -> None:
    text = page("pyramid")
    for name in ("pyramid_development.ini", "pyramid_quickstart.py", "pyramid_view_options.py",
                 "pyramid_policy.py"):
        assert f"snippets/{name}" in text


def ini_settings() -> dict[str, str]:
    """The app's settings as PasteDeploy would pass them from the page's .ini file."""
    parser = configparser.ConfigParser()
    parser.read(SNIPPETS / "pyramid_development.ini")
    return {k: v for k, v in parser["app:main"].items() if k.startswith("pomerium.")}


def test_the_ini_sets_audience_and_exempt_path() -> None:
    assert ini_settings() == {"pomerium.audience": "app.example.com",
                              "pomerium.exempt": "/healthz"}


@pytest.mark.parametrize(
    ("path", "email", "groups", "status"),
    [("/", "ada@example.com", [], 200), ("/admin", "ada@example.com", ["admins"], 200),
     ("/admin", "ops@example.com", [], 200), ("/admin", "bob@example.com", ["staff"], 403)],
    ids=["home", "admin-group", "admin-ops-email", "admin-other"],
)
def test_quickstart(route_host: FakePomerium, path: str, email: str, groups: list[str],
                    status: int) -> None:
    app = load_snippet("pyramid_quickstart").main({}, **ini_settings())
    response = Client(app).get(path, headers=route_host.headers(email, groups))
    assert response.status_code == status
    if path == "/":
        subject = route_host.claims(email)["sub"]
        assert response.text == f"Hello, {email} ({subject})"


def test_quickstart_refuses_without_a_token(route_host: FakePomerium) -> None:
    app = load_snippet("pyramid_quickstart").main({}, **ini_settings())
    response = Client(app).get("/admin", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.json["reason"] == "missing"


@pytest.mark.parametrize(
    ("path", "email", "groups", "status"),
    [("/reports", "ada@example.com", ["finance"], 200),
     ("/reports", "bob@example.com", ["staff"], 403),
     ("/ops", "ada@example.com", [], 200), ("/ops", "eve@elsewhere.org", [], 403)],
    ids=["reports-finance", "reports-other", "ops-domain", "ops-other-domain"],
)
def test_view_options(route_host: FakePomerium, path: str, email: str, groups: list[str],
                      status: int) -> None:
    app = load_snippet("pyramid_view_options").make_app({"pomerium.audience": "app.example.com"})
    assert Client(app).get(path, headers=route_host.headers(email, groups)).status_code == status


def test_policy_by_hand_is_optional(route_host: FakePomerium) -> None:
    client = Client(load_snippet("pyramid_policy").make_app())
    assert client.get("/").text == "anonymous"
    assert client.get("/", headers=route_host.headers("ada@example.com")).text == "ada@example.com"
