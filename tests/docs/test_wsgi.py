"""docs/wsgi.md: the plain-WSGI examples do what the page says."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import Client

from pomerium_wsgi import require_claim
from pomerium_wsgi.testing import FakePomerium

from .conftest import load_snippet, page


def test_the_page_shows_its_snippets() -> None:
    text = page("wsgi")
    for name in ("wsgi_quickstart", "wsgi_identity", "wsgi_protect"):
        assert f"snippets/{name}.py" in text


def test_quickstart_greets_the_verified_user(route_host: FakePomerium) -> None:
    client = Client(load_snippet("wsgi_quickstart").app)
    response = client.get("/", headers=route_host.headers("ada@example.com"))
    assert response.status_code == 200
    assert response.text == "Hello, ada@example.com\n"


def test_quickstart_refuses_without_a_token(route_host: FakePomerium) -> None:
    response = Client(load_snippet("wsgi_quickstart").app).get(
        "/", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.json["reason"] == "missing"
    assert response.headers["Cache-Control"] == "no-store"


def test_identity_view_reads_the_claims(route_host: FakePomerium) -> None:
    client = Client(load_snippet("wsgi_identity").app)
    headers = route_host.headers("ada@example.com", ["admins", "staff"], name="Ada")
    body = json.loads(client.get("/", headers=headers).text)
    assert body == {"email": "ada@example.com", "groups": ["admins", "staff"],
                    "subject": body["subject"], "name": "Ada", "is_admin": True}
    assert body["subject"]


def test_identity_view_in_optional_mode_says_why_anonymous(route_host: FakePomerium) -> None:
    client = Client(load_snippet("wsgi_identity").app)
    anonymous = json.loads(client.get("/").text)
    assert anonymous == {"anonymous": True, "reason": "missing"}
    expired = route_host.headers(exp=1_000_000, iat=999_700)
    assert json.loads(client.get("/", headers=expired).text)["reason"] == "expired"


def test_protect_allows_admins_of_the_domain_only(route_host: FakePomerium) -> None:
    snippet = load_snippet("wsgi_protect")
    client = Client(snippet.app)
    ok = client.get("/", headers=route_host.headers("ada@example.com", ["admins"]))
    assert (ok.status_code, ok.text) == (200, "Welcome, ada@example.com\n")
    other_domain = route_host.headers("eve@elsewhere.org", ["admins"])
    assert client.get("/", headers=other_domain).status_code == 403
    not_admin = route_host.headers("bob@example.com", ["staff"])
    assert client.get("/", headers=not_admin).status_code == 403
    # protect() alone, with no middleware in front: no identity is 401, not 403.
    assert Client(snippet.admin_app).get("/").status_code == 401


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [("text/html", "text/html; charset=utf-8"), ("application/json", "application/problem+json"),
     ("*/*", "text/plain; charset=utf-8")],
    ids=["browser", "api-client", "other"])
def test_refusals_come_in_the_formats_the_page_names(
        route_host: FakePomerium, accept: str, content_type: str) -> None:
    text = page("wsgi")
    assert "an HTML page for\nbrowsers" in text and "plain text otherwise" in text
    response = Client(load_snippet("wsgi_quickstart").app).get("/", headers={"Accept": accept})
    assert response.status_code == 401
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Vary"] == "Accept"
    if accept == "application/json":
        assert set(response.json) == {"type", "title", "status", "detail", "reason", "hint"}


def test_require_claim_alone_is_exactly_json_true(route_host: FakePomerium) -> None:
    assert "exactly the JSON `true`" in page("wsgi")
    verifier = route_host.verifier()
    flag = require_claim("email_verified")
    assert flag.check(verifier.verify(route_host.token(email_verified=True)))
    assert not flag.check(verifier.verify(route_host.token(email_verified="true")))
