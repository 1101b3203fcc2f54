"""django_pomerium.checks: E001, E002 and W001 through Django's check framework."""

from __future__ import annotations

import typing as t

import pytest
from django.core import checks
from django.core.management import call_command

from pomerium_wsgi.testing import FakePomerium

AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
OURS = "django_pomerium.middleware.PomeriumMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
MESSAGES = "django.contrib.messages.middleware.MessageMiddleware"


def ids() -> list[str]:
    return [m.id for m in checks.run_checks(tags=[checks.Tags.security])
            if m.id and m.id.startswith("django_pomerium.")]


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POMERIUM_AUDIENCE", raising=False)
    monkeypatch.delenv("POMERIUM_LEEWAY", raising=False)


def test_configured_site_passes(settings: t.Any, fake: FakePomerium) -> None:
    settings.POMERIUM = {"VERIFIER": fake.verifier()}
    assert ids() == []
    call_command("check")  # raises SystemCheckError on any error


def test_e001_no_audience(settings: t.Any) -> None:
    settings.POMERIUM = {}
    messages = [m for m in checks.run_checks() if m.id == "django_pomerium.E001"]
    assert len(messages) == 1 and "POMERIUM_AUDIENCE" in messages[0].hint


def test_e001_satisfied_by_the_environment(settings: t.Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POMERIUM_AUDIENCE", "app.example.com")
    settings.POMERIUM = {}
    assert ids() == []


@pytest.mark.parametrize("pomerium", [
    pytest.param({"AUDIENCE": "a.example.com", "LEEWAY": "soon"}, id="bad-value"),
    pytest.param({"AUDIENCE": "a.example.com", "VERIFIER": "x"}, id="exclusive"),
])
def test_e002_invalid_settings(settings: t.Any, pomerium: dict[str, t.Any]) -> None:
    settings.POMERIUM = pomerium
    messages = [m for m in checks.run_checks() if m.id == "django_pomerium.E002"]
    assert len(messages) == 1 and messages[0].hint
    assert "POMERIUM[" in messages[0].msg


@pytest.mark.parametrize(("middleware", "backends", "expected"), [
    pytest.param([SESSION, AUTH, MESSAGES], None, ["django_pomerium.W001"], id="missing"),
    pytest.param([SESSION, OURS, AUTH, MESSAGES], None, ["django_pomerium.W001"],
                 id="before-auth"),
    pytest.param([SESSION, OURS, AUTH, MESSAGES],
                 ["django.contrib.auth.backends.ModelBackend"], [], id="before-auth-no-backend"),
    pytest.param([SESSION, AUTH, "tests.adapters.test_django_checks.SubMiddleware",
                  MESSAGES], None, [], id="subclass-accepted"),
])
def test_w001_middleware(settings: t.Any, fake: FakePomerium, middleware: list[str],
                         backends: list[str] | None, expected: list[str]) -> None:
    settings.POMERIUM = {"VERIFIER": fake.verifier()}
    settings.MIDDLEWARE = middleware
    if backends is not None:
        settings.AUTHENTICATION_BACKENDS = backends
    assert ids() == expected
    for message in checks.run_checks():
        if message.id == "django_pomerium.W001":
            assert message.hint and "MIDDLEWARE" in message.hint


def _sub_middleware() -> type:
    from django_pomerium.middleware import PomeriumMiddleware

    return type("SubMiddleware", (PomeriumMiddleware,), {})


SubMiddleware = _sub_middleware()
