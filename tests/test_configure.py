"""configure(): an adapter's settings, the environment, and the ready-verifier rule."""

from __future__ import annotations

import json
import typing as t

import pytest

from pomerium_wsgi import ConfigurationError, RemoteJWKS, StaticKeys
from pomerium_wsgi.configure import configure, parse
from pomerium_wsgi.testing import FakePomerium


def label(name: str) -> str:
    return f"my.{name}"


def test_code_is_parsed_and_completed_from_the_environment(fake: FakePomerium) -> None:
    environ = {"POMERIUM_JWKS": json.dumps(fake.jwks), "POMERIUM_EXEMPT": "/healthz",
               "POMERIUM_LEEWAY": "5"}
    configured = configure({"audience": "a.example.com, b.example.com", "leeway": "12",
                            "optional": "yes", "header": "X-Token"},
                           label=label, environ=environ)
    assert configured.verifier.audiences == {"a.example.com", "b.example.com"}
    assert configured.verifier.leeway == 12  # code wins
    assert isinstance(configured.verifier.keys, StaticKeys)  # from the environment
    assert dict(configured.options) == {"optional": True, "header": "X-Token",
                                        "exempt": ("/healthz",)}


def test_jwks_and_jwks_url_count_as_one_setting(fake: FakePomerium) -> None:
    environ = {"POMERIUM_JWKS_URL": "http://127.0.0.1:9/jwks.json"}
    configured = configure({"audience": "a.example.com", "jwks": fake.jwks},
                           label=label, environ=environ)
    assert isinstance(configured.verifier.keys, StaticKeys)
    environ = {"POMERIUM_JWKS": json.dumps(fake.jwks)}
    configured = configure({"audience": "a.example.com",
                            "jwks_url": "http://127.0.0.1:9/jwks.json"},
                           label=label, environ=environ)
    assert isinstance(configured.verifier.keys, RemoteJWKS)


def test_blank_settings_count_as_left_out() -> None:
    assert parse({"audience": " ", "exempt": [], "optional": None, "issuer": ""}, label) == {}
    configured = configure({"audience": ""}, label=label,
                           environ={"POMERIUM_AUDIENCE": "env.example.com"})
    assert configured.verifier.audiences == {"env.example.com"}


def test_a_ready_verifier_wins_over_everything(fake: FakePomerium,
                                               caplog: pytest.LogCaptureFixture) -> None:
    verifier = fake.verifier()
    environ = {"POMERIUM_AUDIENCE": "env.example.com", "POMERIUM_OPTIONAL": "true",
               "POMERIUM_JWKS_URL": "https://keys.example.com/jwks.json"}
    with caplog.at_level("INFO", logger="pomerium_wsgi.configure"):
        configured = configure({"verifier": verifier, "audience": "prod.example.com",
                                "leeway": 10, "exempt": "/healthz"},
                               label=label, environ=environ)
    assert configured.verifier is verifier
    assert dict(configured.options) == {"exempt": ("/healthz",)}
    assert "my.audience, my.leeway are not used" in caplog.text


@pytest.mark.parametrize(
    ("code", "environ", "message"),
    [
        ({}, {}, "my.audience is not set, nor the POMERIUM_AUDIENCE environment variable"),
        ({"audience": "a.example.com", "leeway": "soon"}, {}, "my.leeway must be a number"),
        ({"audience": "a.example.com"}, {"POMERIUM_LEEWAY": "soon"},
         "POMERIUM_LEEWAY must be a number"),
        ({"verifier": "a.example.com"}, {}, "my.verifier must be a pomerium_wsgi.Verifier"),
        ({"audience": "a.example.com", "cache": object()}, {}, "my.cache must be a cachelib"),
        ({"audience": "a.example.com", "max_token_size": "big"}, {},
         "max_token_size must be"),
    ],
    ids=["no-audience", "bad-code-value", "bad-env-value", "not-a-verifier", "not-a-cache",
         "bad-other-option"],
)
def test_bad_settings_are_configuration_errors(code: dict[str, t.Any],
                                               environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        configure(code, label=label, environ=environ)
