"""docs/troubleshooting.md: every refusal reason is documented, and each cause it names
gives that reason through the real middleware."""

from __future__ import annotations

import typing as t

import pytest
from werkzeug.test import Client

import pomerium_wsgi
from pomerium_wsgi import PomeriumMiddleware, VerificationError, Verifier
from pomerium_wsgi.testing import FakePomerium

from ..conftest import free_port
from .conftest import page


def reasons() -> set[str]:
    found = set()
    for name in pomerium_wsgi.__all__:
        obj = getattr(pomerium_wsgi, name)
        if (isinstance(obj, type) and issubclass(obj, VerificationError)
                and obj is not VerificationError):
            found.add(obj.reason)
    return found


def test_every_reason_has_a_section() -> None:
    text = page("troubleshooting")
    assert len(reasons()) >= 10
    missing = sorted(r for r in reasons() | {"forbidden", "unenforced"} if f"## `{r}`" not in text)
    assert not missing, f"reasons without a section in docs/troubleshooting.md: {missing}"


def hello(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    return ".".join([header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])


CAUSES: dict[str, t.Callable[[FakePomerium], dict[str, str]]] = {
    "missing": lambda fake: {},
    "malformed": lambda fake: {"X-Pomerium-Jwt-Assertion": "not-a-jwt"},
    "signature": lambda fake: {"X-Pomerium-Jwt-Assertion": tamper(fake.token())},
    "unknown_key": lambda fake: {"X-Pomerium-Jwt-Assertion": FakePomerium().token()},
    "expired": lambda fake: fake.headers(exp=1_000_000, iat=999_700),
    "not_yet_valid": lambda fake: fake.headers(iat=int(fake.clock()) + 600,
                                               exp=int(fake.clock()) + 900),
    "audience": lambda fake: fake.headers(aud="other.example.com"),
    "issuer": lambda fake: fake.headers(iss="pomerium.example.com"),
    "claims": lambda fake: fake.headers(groups="admins"),
}


@pytest.mark.parametrize("reason", sorted(CAUSES), ids=sorted(CAUSES))
def test_each_cause_gives_its_reason(pomerium: FakePomerium, reason: str) -> None:
    app = Client(PomeriumMiddleware(hello, pomerium.verifier()))
    response = app.get("/", headers={"Accept": "application/json", **CAUSES[reason](pomerium)})
    assert response.status_code == 401
    assert response.json["reason"] == reason


def test_a_token_from_another_route_is_refused_as_audience(pomerium: FakePomerium) -> None:
    app = Client(PomeriumMiddleware(hello, pomerium.verifier()))
    headers = pomerium.headers(aud="other.example.com", iss="other.example.com")
    response = app.get("/", headers={"Accept": "application/json", **headers})
    assert response.json["reason"] == "audience"


def test_unreachable_jwks_is_503_keys_unavailable(pomerium: FakePomerium) -> None:
    """The app cannot reach its own host's JWKS (here: nothing listens at the URL)."""
    verifier = Verifier("app.example.com", timeout=1.0,
                        jwks_url=f"http://127.0.0.1:{free_port()}/.well-known/pomerium/jwks.json")
    response = Client(PomeriumMiddleware(hello, verifier)).get(
        "/", headers={"Accept": "application/json", **pomerium.headers()})
    assert (response.status_code, response.json["reason"]) == (503, "keys_unavailable")
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize(("value", "passes"), [(True, True), ("true", False), (1, False)],
                         ids=["json-true", "string-true", "one"])
def test_require_claim_without_values_passes_only_json_true(
        pomerium: FakePomerium, value: object, passes: bool) -> None:
    assert "passes only a JSON\n`true`" in page("troubleshooting")
    identity = pomerium.verifier().verify(pomerium.token(email_verified=value))
    assert pomerium_wsgi.require_claim("email_verified").check(identity) is passes
    as_string = pomerium_wsgi.require_claim("email_verified", "true").check(identity)
    assert as_string is (value == "true")


def test_under_dev_a_plain_verifier_ignores_the_environment_and_from_env_reads_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys_unavailable bullet for dev: Verifier(host) keeps Pomerium's URL for the
    host, Verifier.from_env(audience=host) takes POMERIUM_JWKS_URL."""
    assert "`Verifier.from_env(audience=...)`" in page("troubleshooting")
    local = "http://127.0.0.1:9/.well-known/pomerium/jwks.json"
    monkeypatch.setenv("POMERIUM_JWKS_URL", local)
    plain = Verifier("app.example.com")
    assert plain.keys.url == "https://app.example.com/.well-known/pomerium/jwks.json"
    assert Verifier.from_env(audience="app.example.com").keys.url == local
