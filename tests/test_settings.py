"""Settings parsing and the environment fallback shared by every adapter."""

from __future__ import annotations

import json

import pytest

from pomerium_wsgi import ConfigurationError, StaticKeys, Verifier
from pomerium_wsgi.keys import RemoteJWKS
from pomerium_wsgi.settings import coerce, env_settings, with_env
from pomerium_wsgi.testing import FakePomerium


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("audience", "a.example.com, b.example.com", ("a.example.com", "b.example.com")),
        ("audience", ["a.example.com"], ("a.example.com",)),
        ("algorithms", "ES256", ("ES256",)),
        ("exempt", "/healthz,/static/", ("/healthz", "/static/")),
        ("leeway", "12.5", 12.5),
        ("timeout", 3, 3.0),
        ("optional", "yes", True),
        ("optional", "Off", False),
        ("cors_preflight", True, True),
        ("jwks_url", " http://127.0.0.1:1/jwks.json ", "http://127.0.0.1:1/jwks.json"),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_coerce_accepts(name: str, raw: object, expected: object) -> None:
    assert coerce(name, raw) == expected


@pytest.mark.parametrize(
    ("name", "raw", "fragment"),
    [
        ("leeway", "soon", "POMERIUM_LEEWAY must be a number"),
        ("leeway", True, "POMERIUM_LEEWAY must be a number"),
        ("optional", "maybe", "POMERIUM_OPTIONAL must be a boolean"),
        ("audience", 42, "POMERIUM_AUDIENCE must be a string"),
        ("audience", ["ok", 1], "POMERIUM_AUDIENCE must be a string"),
        ("jwks_url", "", "POMERIUM_JWKS_URL must be a non-empty string"),
    ],
    ids=["leeway-text", "leeway-bool", "optional", "audience-int", "audience-mixed", "url"],
)
def test_coerce_refuses_with_the_settings_name(name: str, raw: object, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        coerce(name, raw)


def test_coerce_names_the_setting_as_written() -> None:
    with pytest.raises(ConfigurationError, match=r"^pomerium\.leeway "):
        coerce("leeway", "x", label="pomerium.leeway")


def test_env_settings_reads_every_variable() -> None:
    environ = {
        "POMERIUM_AUDIENCE": "app.example.com",
        "POMERIUM_ISSUER": "app.example.com",
        "POMERIUM_JWKS_URL": "http://127.0.0.1:9/jwks.json",
        "POMERIUM_ALGORITHMS": "ES256,RS256",
        "POMERIUM_LEEWAY": "5",
        "POMERIUM_TIMEOUT": "2",
        "POMERIUM_EXEMPT": "/healthz",
        "POMERIUM_OPTIONAL": "true",
        "POMERIUM_CORS_PREFLIGHT": "1",
        "POMERIUM_UNRELATED": "x",
        "POMERIUM_ISSUER_EXTRA": "x",
    }
    assert env_settings(environ) == {
        "audience": ("app.example.com",),
        "issuer": ("app.example.com",),
        "jwks_url": "http://127.0.0.1:9/jwks.json",
        "algorithms": ("ES256", "RS256"),
        "leeway": 5.0,
        "timeout": 2.0,
        "exempt": ("/healthz",),
        "optional": True,
        "cors_preflight": True,
    }


def test_empty_variables_count_as_unset() -> None:
    assert env_settings({"POMERIUM_AUDIENCE": "  ", "POMERIUM_LEEWAY": ""}) == {}


def test_jwks_variable_takes_json_pem_or_a_file(tmp_path, fake: FakePomerium) -> None:
    document = json.dumps(fake.jwks)
    assert env_settings({"POMERIUM_JWKS": document})["jwks"] == document
    pem = fake.signing_key.key.as_pem(private=False).decode()
    assert env_settings({"POMERIUM_JWKS": pem})["jwks"] == pem.strip()
    path = tmp_path / "jwks.json"
    path.write_text(document)
    assert env_settings({"POMERIUM_JWKS": str(path)})["jwks"] == document


def test_unreadable_jwks_file_is_a_configuration_error(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="POMERIUM_JWKS must be JWKS JSON, PEM"):
        env_settings({"POMERIUM_JWKS": str(tmp_path / "missing.json")})


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ({}, {"audience": ("env.example.com",), "jwks": "{}", "leeway": 5.0}),
        (
            {"audience": "code.example.com", "leeway": None},
            {"audience": "code.example.com", "jwks": "{}", "leeway": 5.0},
        ),
        (
            {"jwks_url": "https://keys.example.com/jwks.json"},
            {"audience": ("env.example.com",), "jwks_url": "https://keys.example.com/jwks.json",
             "leeway": 5.0},
        ),
        ({"verifier": "ready"}, {"verifier": "ready"}),
    ],
    ids=["env-fills-all", "code-wins", "key-source-is-one-setting", "verifier-ignores-env"],
)
def test_with_env_precedence(code: dict[str, object], expected: dict[str, object]) -> None:
    environ = {"POMERIUM_AUDIENCE": "env.example.com", "POMERIUM_JWKS": "{}",
               "POMERIUM_LEEWAY": "5"}
    assert with_env(code, environ) == expected


def test_variables_for_settings_given_in_code_are_not_read(tmp_path) -> None:
    # Code wins, so a bad variable it overrides must not stop the app: an unreadable
    # POMERIUM_JWKS file (beside a jwks_url in code), a malformed POMERIUM_LEEWAY.
    environ = {"POMERIUM_AUDIENCE": "env.example.com",
               "POMERIUM_JWKS": str(tmp_path / "only-on-another-host.json"),
               "POMERIUM_LEEWAY": "soon"}
    url = "https://keys.example.com/jwks.json"
    assert with_env({"jwks_url": url, "leeway": 10}, environ) == {
        "audience": ("env.example.com",), "jwks_url": url, "leeway": 10}
    verifier = Verifier.from_env(environ, jwks_url=url, leeway=10)
    assert verifier.leeway == 10 and verifier.audiences == frozenset({"env.example.com"})
    with pytest.raises(ConfigurationError, match="POMERIUM_LEEWAY"):
        with_env({"jwks_url": url}, environ)  # not overridden: still an error


def test_verifier_from_env_verifies(fake: FakePomerium, clock) -> None:
    environ = {"POMERIUM_AUDIENCE": fake.audience, "POMERIUM_JWKS": json.dumps(fake.jwks)}
    verifier = Verifier.from_env(environ, clock=clock)
    assert isinstance(verifier.keys, StaticKeys)
    assert verifier.verify(fake.token(email="ada@example.com")).email == "ada@example.com"


def test_verifier_from_env_against_a_served_jwks(fake: FakePomerium, clock) -> None:
    with fake.serve() as jwks_url:
        environ = {"POMERIUM_AUDIENCE": fake.audience, "POMERIUM_JWKS_URL": jwks_url}
        verifier = Verifier.from_env(environ, clock=clock)
        assert isinstance(verifier.keys, RemoteJWKS)
        assert verifier.verify(fake.token(groups=["admins"])).groups == ("admins",)


def test_verifier_from_env_code_options_win(fake: FakePomerium, clock) -> None:
    environ = {"POMERIUM_AUDIENCE": "other.example.com", "POMERIUM_JWKS_URL": "https://x/"}
    verifier = Verifier.from_env(environ, audience=fake.audience, jwks=fake.jwks,
                                 token_cache_size=0, clock=clock)
    assert verifier.audiences == {fake.audience}
    assert verifier.token_cache_size == 0
    assert verifier.verify(fake.token()).audience == (fake.audience,)


def test_verifier_from_env_without_audience_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="POMERIUM_AUDIENCE"):
        Verifier.from_env({})


def test_verifier_from_env_refuses_unknown_options() -> None:
    with pytest.raises(ConfigurationError, match="unknown Verifier options: colour"):
        Verifier.from_env({"POMERIUM_AUDIENCE": "a.example.com"}, colour="blue")


def test_verifier_from_env_reads_os_environ(monkeypatch, fake: FakePomerium) -> None:
    monkeypatch.setenv("POMERIUM_AUDIENCE", fake.audience)
    monkeypatch.setenv("POMERIUM_JWKS", json.dumps(fake.jwks))
    monkeypatch.setenv("POMERIUM_ALGORITHMS", "ES256")
    verifier = Verifier.from_env()
    assert verifier.algorithms == {"ES256"}


def test_verifier_from_env_builds_the_class_it_is_called_on(fake: FakePomerium, clock) -> None:
    class AuditedVerifier(Verifier):
        pass

    environ = {"POMERIUM_AUDIENCE": fake.audience, "POMERIUM_JWKS": json.dumps(fake.jwks)}
    verifier = AuditedVerifier.from_env(environ, clock=clock)
    assert type(verifier) is AuditedVerifier
    assert verifier.verify(fake.token()).audience == (fake.audience,)


def test_verifier_from_env_names_a_bad_option_as_given_in_code() -> None:
    with pytest.raises(ConfigurationError, match=r"Verifier\(leeway=\.\.\.\) must be a number"):
        Verifier.from_env({"POMERIUM_AUDIENCE": "a.example.com"}, leeway="soon")
