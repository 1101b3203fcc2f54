"""``pomerium-wsgi verify``: pasted prefixes, the JSON ``reason``, the order of the checks,
and output that no token or JWKS can use to drive the terminal.
"""

from __future__ import annotations

import json
import pathlib
import typing as t

import pytest

from pomerium_wsgi import VerificationError
from pomerium_wsgi.testing import FakePomerium, SigningKey

from .support import ESCAPES, run

NOW = 1_700_000_000
HOSTILE = "\x1b[2J\x9b31m\u202etxt.exe\u2028\x7f"


@pytest.fixture
def fake() -> FakePomerium:
    return FakePomerium(clock=lambda: NOW)


@pytest.fixture
def jwks(fake: FakePomerium, tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(fake.jwks))
    return path


def verify(token: str, jwks: pathlib.Path, *options: str, stdin: bool = True,
           ) -> tuple[int, str, str]:
    args = ["verify", "-" if stdin else token, "--audience", "app.example.com",
            "--jwks", str(jwks), "--now", str(NOW), *options]
    result = run(*args, stdin=token if stdin else None)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("template", [
    "Bearer {t}", "bearer   {t}", "  BEARER {t}\n", "X-Pomerium-Jwt-Assertion: {t}",
    "x-pomerium-jwt-assertion:{t}", "\tX-POMERIUM-JWT-ASSERTION :  {t}  \n",
    "Authorization: Bearer {t}"],
    ids=["bearer", "bearer-spaces", "bearer-upper-padded", "header", "header-lower-tight",
         "header-upper-padded", "authorization"])
@pytest.mark.parametrize("stdin", [True, False], ids=["stdin", "argument"])
def test_verify_strips_a_pasted_prefix_and_says_so(template: str, stdin: bool,
                                                   fake: FakePomerium,
                                                   jwks: pathlib.Path) -> None:
    token = fake.token("ada@example.com")
    code, out, err = verify(template.format(t=token), jwks, stdin=stdin)
    assert code == 0, err
    assert "verdict: VALID (ada@example.com)" in out
    assert "removed the pasted prefix" in err and len(err.strip().splitlines()) == 1
    assert token not in out + err


def test_verify_prefix_with_nothing_after_is_a_usage_error(jwks: pathlib.Path) -> None:
    code, _, err = verify("Bearer   ", jwks)
    assert code == 2 and "no token after the pasted prefix" in err


def test_verify_json_reason_beside_the_checks(fake: FakePomerium, jwks: pathlib.Path) -> None:
    code, out, _ = verify(fake.token(), jwks, "--json")
    valid = json.loads(out)
    assert code == 0 and valid["valid"] is True and "reason" not in valid
    assert all("reason" not in c for c in valid["checks"])
    code, out, _ = verify(fake.token(exp=NOW - 3600, iat=NOW - 3900), jwks, "--json")
    expired = json.loads(out)
    assert code == 1 and expired["reason"] == "expired"
    (failed,) = [c for c in expired["checks"] if c["status"] == "fail"]
    assert failed["name"] == "expiry" and failed["reason"] == "expired"


def _verdict(fake: FakePomerium, token: str) -> str:
    try:
        fake.verifier().verify(token)
    except VerificationError as error:
        return error.reason
    raise AssertionError("accepted")


@pytest.mark.parametrize("claims, failed", [
    ({"aud": "other.example.com", "iss": "other.example.com"}, ["audience", "issuer"]),
    ({"aud": "other.example.com", "exp": NOW - 3600}, ["audience", "expiry"]),
    ({"iss": "https://evil.example.com/", "iat": NOW + 3600, "exp": NOW + 3900},
     ["issuer", "issued_at"]),
    ({"exp": "soon", "aud": "other.example.com"}, ["claim_types", "audience"]),
    ({"aud": "other.example.com", "groups": "admins"}, ["audience", "claims"]),
], ids=["another-route", "audience-and-expired", "issuer-and-future", "types-first",
        "audience-before-other-claims"])
def test_verify_lists_checks_in_the_order_of_precedence(claims: dict[str, t.Any],
                                                        failed: list[str],
                                                        fake: FakePomerium,
                                                        jwks: pathlib.Path) -> None:
    token = fake.token(**claims)
    code, out, _ = verify(token, jwks, "--json")
    report = json.loads(out)
    names = [c["name"] for c in report["checks"]]
    assert names.index("claim_types") < names.index("audience") < names.index("issuer") \
        < names.index("expiry") < names.index("issued_at") < names.index("claims")
    assert [c["name"] for c in report["checks"] if c["status"] == "fail"] == failed
    # The verdict stays the Verifier's own.
    assert code == 1 and report["reason"] == _verdict(fake, token)


def _hostile_tokens(fake: FakePomerium) -> dict[str, str]:
    """Tokens carrying terminal escapes in alg, kid, header and claims."""
    claims = fake.claims(HOSTILE + "@example.com", [HOSTILE], name=HOSTILE, user="u-1",
                         **{"x" + HOSTILE: HOSTILE})
    return {
        "alg": fake.signing_key.sign(claims, {"alg": "ES256" + HOSTILE}),
        "kid-unknown": fake.signing_key.sign(claims, {"kid": "k" + HOSTILE}),
        "typ": fake.signing_key.sign(claims, {"typ": HOSTILE}),
        "claims-valid-signature": fake.signing_key.sign(claims),
        "claims-forged": SigningKey().sign(claims, {"kid": fake.signing_key.kid}),
        "payload-only": "eyJhbGciOiJFUzI1NiJ9." + fake.signing_key.sign(claims).split(".")[1]
        + ".c2ln",
    }


@pytest.mark.parametrize("name", ["alg", "kid-unknown", "typ", "claims-valid-signature",
                                  "claims-forged", "payload-only"])
@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_verify_never_writes_terminal_escapes(name: str, json_output: bool,
                                              fake: FakePomerium,
                                              jwks: pathlib.Path) -> None:
    token = _hostile_tokens(fake)[name]
    code, out, err = verify(token, jwks, *(["--json"] if json_output else []))
    assert code == (0 if name == "claims-valid-signature" else 1)
    for char in (*ESCAPES, "\x7f", "\u2028"):
        assert char not in out and char not in err, (name, repr(char))
    if json_output:
        report = json.loads(out)  # still valid JSON, and the values round-trip
        assert out.isascii()
        if report["claims"] is not None:
            assert report["claims"]["name"] == HOSTILE
    else:
        assert "\\x1b[2J" in out or "\\u001b[2J" in out  # shown, escaped


def test_verify_escapes_a_hostile_jwks(fake: FakePomerium, tmp_path: pathlib.Path) -> None:
    """A JWKS whose key carries escapes (a kid the key store refuses, an odd member)."""
    bad = dict(fake.signing_key.public_jwk(), kid="evil" + HOSTILE, x5u=HOSTILE)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [bad, fake.signing_key.public_jwk()]}))
    token = fake.signing_key.sign(fake.claims(), {"kid": "evil" + HOSTILE})
    for options in ((), ("--json",)):
        code, out, err = verify(token, path, *options)
        assert code in (0, 1) and "evil" in out
        assert not any(c in out + err for c in (*ESCAPES, "\x7f"))


@pytest.mark.parametrize("text, shown", [
    ("plain text, caf\u00e9", "plain text, caf\u00e9"),
    ("\x1b[2J", "\\x1b[2J"), ("\x9b", "\\x9b"), ("\x7f", "\\x7f"),
    ("\u202e", "\\u202e"), ("\u2028\u2029", "\\u2028\\u2029"), ("\ud800", "\\ud800"),
    ("\U000e0041", "\\U000e0041"), ("a\nb", "a\\x0ab"),
], ids=["printable", "csi", "c1-csi", "del", "bidi-override", "separators",
        "lone-surrogate", "tag-character", "newline"])
def test_escape(text: str, shown: str) -> None:
    from pomerium_wsgi.cli.terminal import dumps, escape

    assert escape(text) == shown
    assert json.loads(dumps(text)) == text and dumps(text).isascii()
    assert "\x7f" not in dumps(text)
