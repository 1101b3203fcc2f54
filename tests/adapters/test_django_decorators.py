"""django_pomerium.decorators and django_pomerium.mixins: 401 without an identity,
PermissionDenied (the site's 403 page) when the requirement fails, sync and async."""

from __future__ import annotations

import typing as t

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from django_pomerium import (
    ViewRequirement,
    require_all_groups,
    require_claim,
    require_email,
    require_email_domain,
    require_group,
    require_identity,
    requires,
)
from pomerium_wsgi import authz
from pomerium_wsgi.signals import access_denied
from pomerium_wsgi.testing import FakePomerium

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def site(settings: t.Any, fake: FakePomerium) -> None:
    settings.POMERIUM = {"VERIFIER": fake.verifier(), "OPTIONAL": True}


@pytest.mark.parametrize("path", [
    pytest.param("/admins", id="decorator"),
    pytest.param("/async/admins", id="async-decorator"),
    pytest.param("/cbv/admins", id="mixin"),
    pytest.param("/cbv/async-admins", id="async-mixin"),
])
@pytest.mark.parametrize(("groups", "status"), [
    pytest.param(None, 401, id="anonymous"),
    pytest.param(["staff"], 403, id="denied"),
    pytest.param(["admins"], 200, id="allowed"),
])
def test_guarded_views(client: Client, fake: FakePomerium, path: str,
                       groups: list[str] | None, status: int) -> None:
    headers = {} if groups is None else {"HTTP_X_POMERIUM_JWT_ASSERTION": fake.token(
        "ada@example.com", groups)}
    response = client.get(path, HTTP_ACCEPT="application/json", **headers)
    assert response.status_code == status
    if status == 401:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["reason"] == "missing"
    if status == 403:
        # The project's own 403.html, with the requirement that failed.
        assert b"site 403 page" in response.content
        assert b"membership of group &#x27;admins&#x27;" in response.content


def test_combined_requirement(client: Client, fake: FakePomerium) -> None:
    def status(email: str, groups: list[str]) -> int:
        return client.get("/staff-or-ada", HTTP_X_POMERIUM_JWT_ASSERTION=fake.token(
            email, groups)).status_code

    assert status("ada@example.com", []) == 200
    assert status("bob@example.com", ["staff"]) == 200
    assert status("bob@example.com", []) == 403


def test_refused_token_in_optional_mode_answers_its_reason(client: Client) -> None:
    token = FakePomerium().token()
    response = client.get("/identity-required", HTTP_X_POMERIUM_JWT_ASSERTION=token,
                          HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and response.json()["reason"] == "unknown_key"


def test_access_denied_signal(client: Client, fake: FakePomerium) -> None:
    seen: list[tuple[str, str]] = []

    def receiver(sender: t.Any, identity: t.Any, requirement: t.Any, environ: t.Any) -> None:
        seen.append((identity.email, str(requirement)))

    with access_denied.connected_to(receiver):
        client.get("/admins", HTTP_X_POMERIUM_JWT_ASSERTION=fake.token("bob@example.com"))
        client.get("/cbv/admins", HTTP_X_POMERIUM_JWT_ASSERTION=fake.token("bob@example.com"))
    assert seen == [("bob@example.com", "membership of group 'admins'")] * 2


def test_mixin_default_requires_an_identity(client: Client, fake: FakePomerium) -> None:
    assert client.get("/cbv/any").status_code == 401
    assert client.get("/cbv/any", HTTP_X_POMERIUM_JWT_ASSERTION=fake.token()).status_code == 200


@pytest.mark.parametrize(("requirement", "allowed"), [
    pytest.param(require_identity(), True, id="identity"),
    pytest.param(require_group("a", "b"), True, id="group-any"),
    pytest.param(require_all_groups("a", "c"), False, id="all-groups"),
    pytest.param(require_email("ADA@example.com"), True, id="email"),
    pytest.param(require_email_domain("example.org"), False, id="domain"),
    pytest.param(require_claim("groups", "b"), True, id="claim"),
    pytest.param(requires(authz.require_group("c") | authz.require_email("ada@example.com")),
                 True, id="requires"),
])
def test_each_decorator(fake: FakePomerium, requirement: ViewRequirement,
                        allowed: bool) -> None:
    from django.core.exceptions import PermissionDenied

    @requirement
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.pomerium_identity = fake.verifier().verify(fake.token("ada@example.com",
                                                                  ["a", "b"]))
    if allowed:
        assert view(request).content == b"ok"
    else:
        with pytest.raises(PermissionDenied):
            view(request)
    assert requirement(request.pomerium_identity) is allowed
    assert requirement(None) is False
    assert view.pomerium_requirement is requirement.requirement


def test_bare_require_identity() -> None:
    @require_identity
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.pomerium_identity = None
    assert view(request).status_code == 401


def test_unverified_request_fails_closed() -> None:
    from django.core.exceptions import ImproperlyConfigured

    @require_group("admins")
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    with pytest.raises(ImproperlyConfigured, match="PomeriumMiddleware"):
        view(RequestFactory().get("/"))


def test_decorating_a_class_is_refused() -> None:
    from django.views import View

    with pytest.raises(TypeError, match="PomeriumRequiredMixin"):
        require_group("admins")(View)
