"""Property-based fuzzing of everything a client (or a broken JWKS endpoint) can send.

Two properties, checked over generated token text, header / payload JSON, mutations of
a genuine token, and JWKS documents (static and served over HTTP):

* nothing but :class:`~pomerium_wsgi.VerificationError` (``KeysUnavailable`` is one)
  escapes ``Verifier.verify``, and only ``ConfigurationError`` / ``JWKSError`` escape key
  loading, whatever the input;
* nothing verifies without a valid signature by a configured key; where a genuinely
  signed payload does verify, the identity satisfies every claim rule.

Example counts are bounded (``MAX``) so the whole module runs in seconds in CI; long
runs use the atheris harness in ``fuzz/``. The example database is off so a run leaves
no files behind.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import typing as t

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pomerium_wsgi import ConfigurationError, Identity, VerificationError, Verifier
from pomerium_wsgi.keys import JWKSError, VerificationKey, parse_jwks
from pomerium_wsgi.testing import FakePomerium

from ._support import AUDIENCE, NOW, DocumentServer, b64, compact, signed

#: Examples per property; the module's total runtime stays well under a minute.
MAX = {
    "text": 500,
    "token_shaped": 500,
    "header_payload": 300,
    "signed_payload": 300,
    "mutation": 400,
    "jwks_entries": 300,
    "jwks_any_json": 200,
    "jwks_remote": 40,
}


def fuzz_settings(name: str) -> t.Callable[[t.Any], t.Any]:
    return settings(max_examples=MAX[name], deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


FAKE = FakePomerium(AUDIENCE, clock=lambda: NOW)
KEY = serialization.load_pem_private_key(FAKE.signing_key.private_pem(), None)
assert isinstance(KEY, ec.EllipticCurvePrivateKey)
KID = FAKE.signing_key.kid
VERIFIER = FAKE.verifier()
VALID = FAKE.token()
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

json_scalars = (st.none() | st.booleans() | st.integers() | st.floats()
                | st.text(st.characters(codec=None), max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12,
)


def refused(token: t.Any, verifier: Verifier = VERIFIER) -> VerificationError:
    """Verify *token*; it must be refused with a VerificationError (and only that)."""
    try:
        identity = verifier.verify(token)
    except VerificationError as error:
        return error
    raise AssertionError(f"verified without a valid signature: {identity!r}")


# -- token text --------------------------------------------------------------------------

@fuzz_settings("text")
@given(st.one_of(st.text(st.characters(codec=None)), st.binary()))
def test_arbitrary_text_is_refused(token: str | bytes) -> None:
    refused(token)


token_shaped = st.lists(
    st.text(st.sampled_from(B64URL + "=+/ .\t\x00~"), max_size=120), min_size=1, max_size=6
).map(".".join)


@fuzz_settings("token_shaped")
@given(token_shaped)
def test_token_shaped_text_is_refused(token: str) -> None:
    refused(token)


# -- header and payload JSON -------------------------------------------------------------

headers = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["ES256", "RS256", "none", "HS256", "es256"]) | json_values,
         "kid": st.sampled_from([KID, "x", ""]) | json_values},
        optional={"typ": st.sampled_from(["JWT", "jwt", "JWE"]) | json_values,
                  "crit": json_values, "b64": st.booleans(), "jku": st.text(),
                  "jwk": json_values},
    ),
)


def _json_bytes(value: t.Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@fuzz_settings("header_payload")
@given(headers, json_values, st.binary(max_size=80))
def test_arbitrary_header_and_payload_never_verify(header: t.Any, payload: t.Any,
                                                    signature: bytes) -> None:
    refused(compact(_json_bytes(header), _json_bytes(payload), signature))


times = st.one_of(
    st.integers(int(NOW) - 1000, int(NOW) + 1000), st.floats(), st.integers(),
    st.text(max_size=12), st.booleans(), st.none(),
)
claim_sets = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.sampled_from([AUDIENCE, f"https://{AUDIENCE}/", "other.example.com", ""])
        | json_scalars,
        "aud": st.sampled_from([AUDIENCE, [AUDIENCE], "APP.example.com", [], "example.com"])
        | json_values,
        "exp": times, "iat": times, "nbf": times,
        "sub": st.sampled_from(["u1", ""]) | json_scalars,
        "groups": st.lists(st.text(max_size=6), max_size=3) | json_values,
        "email": st.text(max_size=12) | json_scalars,
        "user": json_scalars, "name": json_scalars, "sid": json_scalars, "jti": json_scalars,
    },
).flatmap(lambda claims: st.dictionaries(st.text(max_size=6), json_values, max_size=3).map(
    lambda extra: {**extra, **claims}))


def _check_identity(identity: Identity, claims: dict[str, t.Any]) -> None:
    """A verified identity satisfies every rule the verifier promises."""
    assert claims["iss"] in (AUDIENCE, f"https://{AUDIENCE}/")
    aud = claims["aud"]
    auds = [aud] if isinstance(aud, str) else aud
    assert any(a.lower() == AUDIENCE for a in auds)
    for name in ("exp", "iat"):
        assert type(claims[name]) in (int, float)
    assert claims["exp"] + VERIFIER.leeway >= NOW
    assert claims["iat"] <= NOW + VERIFIER.leeway
    if "nbf" in claims:
        assert claims["nbf"] <= NOW + VERIFIER.leeway
    assert isinstance(claims["sub"], str) and claims["sub"]
    assert identity.subject == claims["sub"]


@fuzz_settings("signed_payload")
@given(claim_sets)
def test_genuinely_signed_payloads_obey_the_claim_rules(claims: dict[str, t.Any]) -> None:
    token = signed(KEY, {"alg": "ES256", "kid": KID, "typ": "JWT"}, _json_bytes(claims))
    try:
        identity = VERIFIER.verify(token)
    except VerificationError:
        return
    _check_identity(identity, claims)


# -- mutations of a genuine token --------------------------------------------------------

mutations = st.one_of(
    st.tuples(st.just("replace"), st.integers(0, len(VALID) - 1),
              st.sampled_from(B64URL + ".=+/ ")),
    st.tuples(st.just("delete"), st.integers(0, len(VALID) - 1), st.just("")),
    st.tuples(st.just("insert"), st.integers(0, len(VALID)), st.sampled_from(B64URL + ".= ")),
    st.tuples(st.just("truncate"), st.integers(0, len(VALID) - 1), st.just("")),
)


@fuzz_settings("mutation")
@given(mutations)
def test_any_change_to_a_genuine_token_is_refused(mutation: tuple[str, int, str]) -> None:
    kind, i, char = mutation
    if kind == "replace":
        mutated = VALID[:i] + char + VALID[i + 1 :]
    elif kind == "delete":
        mutated = VALID[:i] + VALID[i + 1 :]
    elif kind == "insert":
        mutated = VALID[:i] + char + VALID[i:]
    else:
        mutated = VALID[:i]
    if mutated == VALID:
        return
    refused(mutated)


def test_the_unmutated_token_verifies() -> None:
    """The mutation property's control: the genuine token itself is accepted."""
    assert VERIFIER.verify(VALID).subject == json.loads(
        base64.urlsafe_b64decode(VALID.split(".")[1] + "==")
    )["sub"]


# -- JWKS documents ----------------------------------------------------------------------

_real = FAKE.signing_key.public_jwk()
_b64_values = st.one_of(
    st.sampled_from([_real["x"], _real["y"], b64(bytes(32)), b64(b"\xff" * 32), "AQAB"]),
    st.binary(max_size=300).map(b64), st.text(max_size=20), json_scalars,
)
jwk_entries = st.fixed_dictionaries(
    {},
    optional={
        "kty": st.sampled_from(["EC", "RSA", "oct", "OKP", ""]) | json_scalars,
        "crv": st.sampled_from(["P-256", "P-384", "P-521", "secp256k1"]) | json_scalars,
        "alg": st.sampled_from(["ES256", "RS256", "none", "HS256"]) | json_scalars,
        "use": st.sampled_from(["sig", "enc"]) | json_scalars,
        "key_ops": st.lists(st.sampled_from(["verify", "sign", "encrypt"])) | json_values,
        "kid": st.sampled_from([KID, "a", ""]) | json_scalars,
        "x": _b64_values, "y": _b64_values, "n": _b64_values, "e": _b64_values,
        "d": _b64_values, "k": _b64_values,
    },
)


def _usable(document: t.Any) -> dict[str, VerificationKey] | None:
    try:
        return parse_jwks(document)
    except JWKSError:
        return None


def _holds_our_key(keys: dict[str, VerificationKey] | None) -> bool:
    """True if the generator happened to rebuild our real public key under our kid.

    The strategies offer the real ``x`` / ``y`` on purpose (so near-misses are tried);
    a set that does hold the key may legitimately verify our token.
    """
    key = (keys or {}).get(KID)
    return key is not None and key.public_jwk()["x"] == _real["x"] and (
        key.public_jwk()["y"] == _real["y"])


def check_refused_unless_ours(verifier: Verifier, keys: dict[str, VerificationKey] | None,
                              ) -> None:
    if _holds_our_key(keys):
        with contextlib.suppress(VerificationError):
            verifier.verify(VALID)
    else:
        refused(VALID, verifier)


@fuzz_settings("jwks_entries")
@given(st.lists(jwk_entries | json_values, max_size=5))
def test_doctored_jwks_entries_never_verify_our_tokens(entries: list[t.Any]) -> None:
    """No generated key set verifies a token of our key, unless it holds that key."""
    document = {"keys": entries}
    keys = _usable(document)
    assert keys is not None  # a dict with a "keys" list is always a JWKS
    for kid, key in keys.items():
        assert isinstance(kid, str) and key.algorithm in ("ES256", "RS256")
    try:
        verifier = Verifier(AUDIENCE, jwks=document, clock=lambda: NOW)
    except ConfigurationError:
        return
    check_refused_unless_ours(verifier, keys)


@fuzz_settings("jwks_any_json")
@given(json_values | st.text(st.characters(codec=None)) | st.binary())
def test_arbitrary_jwks_documents_fail_only_as_documented(document: t.Any) -> None:
    keys = _usable(document)
    assert keys is None or isinstance(keys, dict)
    with contextlib.suppress(ConfigurationError):
        Verifier(AUDIENCE, jwks=document, clock=lambda: NOW)


@pytest.fixture(scope="module")
def server() -> t.Iterator[DocumentServer]:
    with DocumentServer() as running:
        yield running


_served = iter(range(10**9))


@fuzz_settings("jwks_remote")
@given(st.one_of(
    st.lists(jwk_entries, max_size=3).map(lambda e: json.dumps({"keys": e}).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
))
def test_served_jwks_documents_only_ever_refuse(server: DocumentServer, body: bytes,
                                                 ) -> None:
    """Whatever the JWKS endpoint answers, verify() refuses with a VerificationError."""
    url = server.publish(f"fuzz{next(_served)}", body)
    logging.getLogger("pomerium_wsgi").setLevel(logging.ERROR)
    try:
        verifier = Verifier(AUDIENCE, jwks_url=url, clock=lambda: NOW)
        check_refused_unless_ours(verifier, _usable(body))
    finally:
        logging.getLogger("pomerium_wsgi").setLevel(logging.NOTSET)
