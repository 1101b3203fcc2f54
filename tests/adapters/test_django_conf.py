"""django_pomerium.conf: settings.POMERIUM parsed with the core's rules, the environment
fallback, VERIFIER exclusivity, and the reset on setting_changed."""

from __future__ import annotations

import json
import typing as t

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_pomerium import PomeriumImproperlyConfigured, get_settings, reset
from django_pomerium.conf import parse
from pomerium_wsgi import ConfigurationError
from pomerium_wsgi.testing import FakePomerium

ENV = ("POMERIUM_AUDIENCE", "POMERIUM_ISSUER", "POMERIUM_JWKS_URL", "POMERIUM_JWKS",
       "POMERIUM_ALGORITHMS", "POMERIUM_LEEWAY", "POMERIUM_TIMEOUT", "POMERIUM_EXEMPT",
       "POMERIUM_OPTIONAL", "POMERIUM_CORS_PREFLIGHT")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> t.Iterator[None]:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    yield
    reset()


def test_defaults() -> None:
    conf = parse({"AUDIENCE": "app.example.com"})
    assert conf.verifier.audiences == frozenset({"app.example.com"})
    assert (conf.optional, conf.exempt, conf.header, conf.cors_preflight) == (
        False, (), "X-Pomerium-Jwt-Assertion", False)
    assert (conf.create_users, conf.sync_groups, conf.username_claim) == (True, False, "email")
    assert conf.staff_groups is None and conf.superuser_groups is None


def test_values_are_parsed_like_every_adapter() -> None:
    conf = parse({"AUDIENCE": "https://app.example.com/, other.example.com",
                  "LEEWAY": "10", "OPTIONAL": "yes", "EXEMPT": "/healthz/, /static",
                  "CORS_PREFLIGHT": "on", "CREATE_USERS": "false", "SYNC_GROUPS": ["a"],
                  "STAFF_GROUPS": "staff, ops", "HEADER": "X-Token"})
    assert conf.verifier.audiences == frozenset({"app.example.com", "other.example.com"})
    assert conf.optional and conf.cors_preflight and not conf.create_users
    assert conf.exempt == ("/healthz", "/static")
    assert conf.sync_groups == ("a",) and conf.staff_groups == ("staff", "ops")
    assert conf.gate.header == "X-Token"


def test_environment_fills_in_what_settings_leave_out(monkeypatch: pytest.MonkeyPatch,
                                                      fake: FakePomerium) -> None:
    monkeypatch.setenv("POMERIUM_AUDIENCE", fake.audience)
    monkeypatch.setenv("POMERIUM_JWKS_URL", "http://127.0.0.1:9/jwks.json")
    monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
    monkeypatch.setenv("POMERIUM_EXEMPT", "/healthz")
    conf = parse({})
    assert conf.verifier.audiences == frozenset({fake.audience})
    assert conf.optional and conf.exempt == ("/healthz",)
    # Settings in code win; JWKS in code makes the env's JWKS_URL go away (no conflict).
    conf = parse({"OPTIONAL": False, "JWKS": fake.jwks})
    assert not conf.optional


def test_verifier_ignores_the_environment(monkeypatch: pytest.MonkeyPatch,
                                          fake: FakePomerium) -> None:
    monkeypatch.setenv("POMERIUM_AUDIENCE", "other.example.com")
    monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
    verifier = fake.verifier()
    conf = parse({"VERIFIER": verifier})
    assert conf.verifier is verifier and not conf.optional


def test_blank_settings_are_left_out_as_in_every_adapter(monkeypatch: pytest.MonkeyPatch,
                                                         fake: FakePomerium) -> None:
    # A settings file filled from os.environ.get(..., "") leaves keys blank: the
    # environment's value applies (as in Flask, Bottle, Pyramid), instead of "" winning
    # and failing with "no audience" or "must be a non-empty string".
    monkeypatch.setenv("POMERIUM_AUDIENCE", fake.audience)
    monkeypatch.setenv("POMERIUM_JWKS", json.dumps(fake.jwks))
    conf = parse({"AUDIENCE": "", "JWKS_URL": "  ", "ALGORITHMS": "", "EXEMPT": ""})
    assert conf.verifier.audiences == frozenset({fake.audience})
    assert conf.verifier.algorithms == frozenset({"ES256", "RS256"})
    kid = fake.signing_key.kid
    assert conf.verifier.keys.get(kid).kid == kid
    assert conf.exempt == ()


@pytest.mark.parametrize("url", ["https://[::1/jwks.json", "https://a.example.com:99999/j"],
                         ids=["unclosed-ipv6", "port-out-of-range"])
def test_an_unusable_jwks_url_is_improperly_configured(url: str) -> None:
    # Was a bare ValueError (not caught by check_settings: manage.py check crashed), or
    # accepted, to fail on every request.
    with pytest.raises(PomeriumImproperlyConfigured, match="jwks_url"):
        parse({"AUDIENCE": "a.example.com", "JWKS_URL": url})


@pytest.mark.parametrize(("raw", "match"), [
    pytest.param({"VERIFIER": "x", "AUDIENCE": "a.example.com"}, r"AUDIENCE.*ignored",
                 id="verifier-and-options"),
    pytest.param({"VERIFIER": object()}, "must be a pomerium_wsgi.Verifier", id="not-verifier"),
    pytest.param({}, "no audience", id="no-audience"),
    pytest.param({"AUDIANCE": "a.example.com"}, "unknown keys 'AUDIANCE'", id="typo"),
    pytest.param({"AUDIENCE": "a.example.com", "LEEWAY": "soon"}, r"POMERIUM\['LEEWAY'\]",
                 id="bad-number"),
    pytest.param({"AUDIENCE": "a.example.com", "EXEMPT": ["healthz"]}, "must start with",
                 id="bad-exempt"),
    pytest.param({"AUDIENCE": "a.example.com", "SYNC_GROUPS": "yes"}, "SYNC_GROUPS",
                 id="bad-sync"),
    pytest.param({"AUDIENCE": "a.example.com", "USERNAME_CLAIM": ""}, "USERNAME_CLAIM",
                 id="bad-claim"),
    pytest.param({"AUDIENCE": "a.example.com", "ALGORITHMS": ["HS256"]}, "HS256",
                 id="bad-algorithm"),
    pytest.param(["AUDIENCE"], "must be a dict", id="not-a-dict"),
])
def test_bad_settings(raw: t.Any, match: str) -> None:
    with pytest.raises(PomeriumImproperlyConfigured, match=match) as caught:
        parse(raw)
    assert isinstance(caught.value, ImproperlyConfigured)
    assert isinstance(caught.value, ConfigurationError)


def test_env_error_is_improperly_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POMERIUM_LEEWAY", "soon")
    with pytest.raises(ImproperlyConfigured, match="POMERIUM_LEEWAY"):
        parse({"AUDIENCE": "a.example.com"})


def test_built_once_and_reset_by_override_settings(fake: FakePomerium) -> None:
    first = get_settings()
    assert get_settings() is first
    verifier = fake.verifier()
    with override_settings(POMERIUM={"VERIFIER": verifier}):
        assert get_settings().verifier is verifier
    assert get_settings() is not first
    assert get_settings().verifier is not verifier


def test_built_once_across_threads() -> None:
    import threading

    reset()
    seen: list[t.Any] = []
    threads = [threading.Thread(target=lambda: seen.append(get_settings())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(conf) for conf in seen}) == 1
