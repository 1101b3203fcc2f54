"""docs/pyramid.md: the Pyramid examples do what the page says."""

from __future__ import annotations

import configparser
import pathlib
import shlex

import pytest
from werkzeug.test import Client

from pomerium_wsgi.testing import FakePomerium

from .conftest import (
    REFUSAL_FORMATS,
    SNIPPETS,
    check_refusal_formats,
    load_snippet,
    page,
    run_under_dev,
)

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


def test_quickstart_runs_under_dev_as_the_page_says(tmp_path: pathlib.Path) -> None:
    """The page's ``pomerium-wsgi dev 'app:main({})' ...`` line, run for real on the
    quick start saved as app.py: the admin gets both pages, Bob gets 403 on /admin."""
    prefix = "$ pomerium-wsgi dev 'app:"
    line = next(s for s in page("pyramid").splitlines() if s.startswith(prefix))
    words = shlex.split(line[2:])
    assert words[:3] == ["pomerium-wsgi", "dev", "app:main({})"]
    answers = run_under_dev("pyramid_quickstart", tmp_path, ["/", "/admin"], *words[3:],
                            spec=words[2])
    assert [status for status, _ in answers] == [200, 200]
    assert answers[0][1].startswith("Hello, ada@example.com (")
    bob = run_under_dev("pyramid_quickstart", tmp_path, ["/admin"], "--email",
                        "bob@example.com", "--group", "staff", spec=words[2])
    assert bob[0][0] == 403


@REFUSAL_FORMATS
def test_refusals_come_in_the_three_formats_the_page_names(
        route_host: FakePomerium, accept: str, content_type: str) -> None:
    assert "an HTML page for browsers" in page("pyramid")
    app = load_snippet("pyramid_quickstart").main({}, **ini_settings())
    client = Client(app)
    check_refusal_formats(client.get, route_host, accept, content_type)


def test_lists_take_commas_and_a_ready_verifier_wins(route_host: FakePomerium) -> None:
    """The Settings section: comma-separated lists; pomerium.verifier wins over the
    audience and JWKS settings beside it."""
    text = page("pyramid")
    assert "separated by commas, spaces or newlines" in text
    assert "it wins over the verifier settings above and the environment" in text
    other = FakePomerium("other.example.com")  # the ready verifier's keys
    app = load_snippet("pyramid_quickstart").main(
        {}, **{"pomerium.audience": "app.example.com, other.example.com",
               "pomerium.exempt": "/healthz,/status"})
    client = Client(app)
    assert client.get("/", headers=route_host.headers("ada@example.com")).status_code == 200
    assert client.get("/status").status_code == 404  # exempt: no 401, no view
    ready = load_snippet("pyramid_quickstart").main(
        {}, **ini_settings(), **{"pomerium.jwks_url": "https://nowhere.invalid/jwks.json",
                                 "pomerium.verifier": other.verifier()})
    assert Client(ready).get("/", headers=other.headers("ada@example.com")).status_code == 200
