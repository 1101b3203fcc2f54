"""docs/flask.md: the Flask examples do what the page says."""

from __future__ import annotations

import json
import logging

import pytest

from pomerium_wsgi.testing import FakePomerium

from .conftest import REFUSAL_FORMATS, check_refusal_formats, load_snippet, page

pytest.importorskip("flask", reason="the Flask guide needs the [flask] extra")


def test_the_page_shows_its_snippets() -> None:
    text = page("flask")
    for name in ("flask_quickstart", "flask_authz", "flask_errors", "flask_audit"):
        assert f"snippets/{name}.py" in text


@pytest.mark.parametrize(
    ("path", "groups", "status"),
    [("/", [], 200), ("/admin", ["admins"], 200), ("/admin", ["staff"], 403)],
    ids=["home", "admin-in-group", "admin-not-in-group"],
)
def test_quickstart(route_host: FakePomerium, path: str, groups: list[str], status: int) -> None:
    client = load_snippet("flask_quickstart").app.test_client()
    response = client.get(path, headers=route_host.headers("ada@example.com", groups,
                                                           name="Ada Lovelace"))
    assert response.status_code == status
    if path == "/" and status == 200:
        assert response.text == "Hello, ada@example.com"
    elif status == 200:
        assert response.text == "Welcome, Ada Lovelace"


def test_quickstart_refuses_without_a_token_but_serves_healthz(route_host: FakePomerium) -> None:
    client = load_snippet("flask_quickstart").app.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/admin").status_code == 401
    healthz = client.get("/healthz")
    assert (healthz.status_code, healthz.text) == (200, "ok")


@pytest.mark.parametrize(
    ("path", "email", "groups", "claims", "status"),
    [
        ("/reports", "ada@example.com", ["auditors"], {}, 200),
        ("/reports", "bob@example.com", [], {"department": "finance"}, 200),
        ("/reports", "eve@example.com", ["staff"], {}, 403),
        ("/settings", "ada@example.com", ["admins"], {}, 200),
        ("/settings", "bob@example.com", ["staff"], {}, 403),
        ("/api/ping", "ada@example.com", [], {}, 200),
        ("/api/ping", "eve@elsewhere.org", [], {}, 403),
    ],
    ids=["reports-auditor", "reports-finance-claim", "reports-other", "settings-admin",
         "settings-other", "blueprint-domain", "blueprint-other-domain"],
)
def test_authorization(route_host: FakePomerium, path: str, email: str, groups: list[str],
                       claims: dict[str, str], status: int) -> None:
    client = load_snippet("flask_authz").app.test_client()
    response = client.get(path, headers=route_host.headers(email, groups, **claims))
    assert response.status_code == status


def test_the_method_view_is_guarded_for_every_method(route_host: FakePomerium) -> None:
    """The fixed example: flask_pomerium's decorator keeps the class a view class."""
    snippet = load_snippet("flask_authz")
    assert isinstance(snippet.Settings, type)
    client = snippet.app.test_client()
    admin = route_host.headers("ada@example.com", ["admins"])
    assert client.get("/settings", headers=admin).text == "settings of ada@example.com"
    assert client.post("/settings", headers=admin).status_code == 200
    other = route_host.headers("bob@example.com", ["staff"])
    assert client.post("/settings", headers=other).status_code == 403
    assert client.post("/settings").status_code == 401


def test_the_403_handler_renders_the_requirement(route_host: FakePomerium) -> None:
    client = load_snippet("flask_errors").app.test_client()
    response = client.get("/admin", headers=route_host.headers("bob@example.com", ["staff"]))
    assert response.status_code == 403
    assert "<h1>Not for you</h1>" in response.text and "admins" in response.text
    ok = client.get("/admin", headers=route_host.headers("ada@example.com", ["admins"]))
    assert ok.status_code == 200


def test_audit_writes_one_line_per_request(route_host: FakePomerium,
                                           caplog: pytest.LogCaptureFixture) -> None:
    client = load_snippet("flask_audit").app.test_client()
    with caplog.at_level(logging.INFO, logger="audit"):
        client.get("/admin", headers=route_host.headers("ada@example.com", ["admins"]))
        client.get("/admin", headers=route_host.headers("bob@example.com", ["staff"]))
        client.get("/admin")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "audit"]
    assert lines == [
        {"who": "ada@example.com", "endpoint": "admin", "status": 200, "outcome": "allowed",
         "why": None},
        {"who": "bob@example.com", "endpoint": "admin", "status": 403, "outcome": "denied",
         "why": lines[1]["why"]},
        {"who": None, "endpoint": "admin", "status": 401, "outcome": "denied",
         "why": "missing"},
    ]
    assert lines[1]["why"].startswith("requires ") and "admins" in lines[1]["why"]


@REFUSAL_FORMATS
def test_default_refusals_come_in_the_formats_the_page_names(
        route_host: FakePomerium, accept: str, content_type: str) -> None:
    assert "an HTML page for browsers" in page("flask")
    client = load_snippet("flask_quickstart").app.test_client()
    check_refusal_formats(client.get, route_host, accept, content_type,
                          reasons=("missing", "forbidden"))


def test_the_extension_reads_what_the_config_leaves_out_from_the_environment(
        pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch) -> None:
    """No from_prefixed_env(): POMERIUM_JWKS_URL in the environment reaches the quick
    start, whose config names only the audience."""
    assert "`app.config.from_prefixed_env()` is not needed" in page("flask")
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)
        client = load_snippet("flask_quickstart").app.test_client()
        response = client.get("/", headers=pomerium.headers("ada@example.com"))
    assert (response.status_code, response.text) == (200, "Hello, ada@example.com")
