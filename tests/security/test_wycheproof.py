"""Wycheproof conformance: public test vectors through the library's own verification path.

The vectors are the C2SP/wycheproof ``testvectors_v1`` files kept beside the checkout
(``../shared/testdata/wycheproof/``, or the folder named by ``WYCHEPROOF_DIR``); the tests
skip, saying why, where neither exists. Nothing is copied into the project.

How each category reaches the library
-------------------------------------

* ``ecdsa_secp256r1_sha256_p1363_test.json`` (ES256's raw ``r || s`` encoding) and
  ``rsa_signature_2048_sha256_test.json`` (RS256): every group's key is loaded with
  :func:`pomerium_wsgi.keys.parse_pem` from ``publicKeyPem`` *and*, where the group has
  one, with :func:`pomerium_wsgi.keys.parse_jwks` from its JWK; each vector goes through
  ``VerificationKey.verify(msg, sig)``, the exact call the verifier makes per request.
  Both loads must give the same answer.
* ``json_web_signature_test.json`` (whole JWS tokens): the group's public JWK is loaded
  with ``parse_jwks`` into a real :class:`~pomerium_wsgi.Verifier`. Wycheproof's tokens
  carry no Pomerium claims (payloads like ``"foo"``), so a full ``verify()`` refuses all
  of them at the claims stage whatever their signature. To tell "signature and structure
  accepted" from "refused", :func:`signature_stage` runs the verifier's own steps in its
  own order, up to and including the signature check: the empty, size and ASCII checks, the
  segment split, ``verifier._parse_header`` (alg allow-list, refused members, kid),
  ``verifier.keys.get(kid)``, the key's bound algorithm, strict base64url decoding of
  payload and signature, ``key.verify``. Every vector then also goes through the real
  ``verify()``, which must refuse it, and with the same exception class whenever the
  signature stage refused it (so the mirror cannot drift from the real path unnoticed).
  Groups whose key the library will not load (HMAC ``oct`` keys, PS*/RS384/RS512/ES512
  keys) give an empty key set; their tokens run against a verifier holding only an
  unrelated P-256 key, which is what a Pomerium deployment would have.
* ``json_web_key_test.json`` (key sets): the group's ``public`` set (or ``private`` where
  only that is given) goes through ``parse_jwks``, then the group's tokens as above.

Deviations, justified case by case
----------------------------------

``SIGNATURE_DEVIATIONS`` / ``JWS_DEVIATIONS`` / ``JWK_DEVIATIONS`` list every vector
whose outcome differs from its label, with the refusal the library gives and why that is
right. The tests assert the set of mismatches equals these lists exactly: a new mismatch,
or a listed one that stops happening, fails. ``acceptable`` vectors match either outcome.

* Algorithms outside ``("ES256", "RS256")`` (HS*, RS384, RS512, PS*, ES512): Pomerium
  signs with ES256 or RS256 only, and accepting nothing else is the library's main
  defence against algorithm confusion. Their "valid" vectors are refused at the
  algorithm allow-list (``InvalidSignature``).
* Label problems (README of the vector folder), judged on their merits:
  tcId 367 and 370 are byte-identical to the valid tcId 357 yet labelled invalid; all
  three are HS256, refused by the allow-list, so 367 / 370 match their label and 357 is
  an unsupported-algorithm deviation. tcId 372 and 373 carry a literal ``?`` yet are
  labelled valid: ``?`` is not base64url, so they are refused (they are also HS256).
  tcId 346, 347, 350, 351: the key's ``alg`` differs from the token's, so a verifier that
  binds each key to one algorithm refuses them; the library does (the keys do not even
  load, as PS256 / ES521 keys). tcId 353-356: keys whose ``use`` / ``key_ops`` forbid
  verification are skipped, so those tokens are refused, matching their labels.
* JWK tcId 7 (a ROCA-vulnerable 2048-bit RSA key, labelled invalid) is accepted: the
  library does not fingerprint RSA moduli for the Infineon ROCA weakness. The JWKS is
  the trust anchor, fetched from the operator's configured URL; Pomerium generates its
  keys in software (Go's ``crypto/rand``), which ROCA does not affect, and a key
  generated weak would let an attacker forge tokens whatever the verifier did. The
  signature itself is genuine, so verifying it is correct behaviour for the key given.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import typing as t

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pomerium_wsgi import (
    InvalidSignature,
    MalformedToken,
    MissingToken,
    StaticKeys,
    VerificationError,
    Verifier,
)
from pomerium_wsgi._jose import b64url_decode
from pomerium_wsgi.keys import JWKSError, VerificationKey, parse_jwks, parse_pem

from ._support import AUDIENCE, NOW, ec_jwk

Outcome = type[VerificationError] | None  # None: signature and structure accepted

_UNSUPPORTED = "algorithm outside (ES256, RS256): refused by the allow-list"
_KEY_ALG = "key alg differs from token alg (README label problem): key bound to its alg"
_QUESTION_MARK = "literal '?' is not base64url (README label problem); HS256 as well"


def _ranges(*spans: tuple[int, int]) -> list[int]:
    return [n for a, b in spans for n in range(a, b + 1)]


#: json_web_signature_test.json: tcId -> (the library's refusal, why that is right).
JWS_DEVIATIONS: dict[int, tuple[Outcome, str]] = {
    **{n: (InvalidSignature, "HS256 " + _UNSUPPORTED) for n in (1, 348, 352, 357, 358, 359,
                                                                376, 377)},
    **{n: (InvalidSignature, "RS384 " + _UNSUPPORTED) for n in _ranges((264, 267))},
    **{n: (InvalidSignature, "RS512 " + _UNSUPPORTED) for n in _ranges((268, 271))},
    **{n: (InvalidSignature, "PS256 " + _UNSUPPORTED) for n in (272, 273, 274, 275, 287, 288)},
    **{n: (InvalidSignature, "PS384 " + _UNSUPPORTED) for n in _ranges((320, 323))},
    **{n: (InvalidSignature, "PS512 " + _UNSUPPORTED) for n in _ranges((325, 328))},
    346: (InvalidSignature, "PS384 token, PS256 key: " + _KEY_ALG),
    350: (InvalidSignature, "PS384 token, PS256 key with key_ops: " + _KEY_ALG),
    347: (InvalidSignature, "ES512 token, ES521-labelled key: " + _KEY_ALG),
    351: (InvalidSignature, "ES512 token, ES521-labelled key with key_ops: " + _KEY_ALG),
    372: (MalformedToken, "'?' in the header segment: " + _QUESTION_MARK),
    373: (InvalidSignature, "'?' in the payload; the HS256 header is refused first: "
          + _QUESTION_MARK),
}

#: json_web_key_test.json: tcId -> (the library's outcome, why that is right).
JWK_DEVIATIONS: dict[int, tuple[Outcome, str]] = {
    2: (InvalidSignature, "HS256 keyset " + _UNSUPPORTED),
    13: (InvalidSignature, "HS256 " + _UNSUPPORTED),
    14: (InvalidSignature, "HS384 " + _UNSUPPORTED),
    15: (InvalidSignature, "HS512 " + _UNSUPPORTED),
    7: (None, "ROCA-weak key from the trusted JWKS: genuine signature, see module docstring"),
}


@pytest.fixture(scope="module")
def vectors() -> pathlib.Path:
    """The Wycheproof folder, or a skip that says where it was looked for."""
    from tests.conftest import SHARED_TESTDATA

    override = os.environ.get("WYCHEPROOF_DIR")
    if override:
        path = pathlib.Path(override)
    else:
        base = pathlib.Path(os.environ.get("POMERIUM_TESTDATA", SHARED_TESTDATA))
        path = base / "wycheproof"
    if not path.is_dir():
        pytest.skip(f"Wycheproof vectors not found at {path} (set WYCHEPROOF_DIR)")
    return path


def _load(folder: pathlib.Path, name: str) -> dict[str, t.Any]:
    data: dict[str, t.Any] = json.loads((folder / name).read_text("utf-8"))
    return data


def _matches(result: str, accepted: bool) -> bool:
    return result == "acceptable" or accepted == (result == "valid")


# -- raw signatures ------------------------------------------------------------------------

_E3 = "RSA exponent is outside 2^16 < e < 2^256"
#: Signature vectors whose label the library does not follow, and why that is right: keys
#: with e = 3 are refused when loaded (a small exponent is a known foot-gun, and no
#: Pomerium key has one), so those groups' valid signatures are never accepted.
SIGNATURE_DEVIATIONS: dict[str, list[str]] = {
    "rsa_signature_2048_sha256_test.json": [f"tcId 258 refused: {_E3}",
                                            f"tcId 259 refused: {_E3}"],
}

@pytest.mark.parametrize(
    ("name", "jwk_member", "algorithm"),
    [("ecdsa_secp256r1_sha256_p1363_test.json", "publicKeyJwk", "ES256"),
     ("rsa_signature_2048_sha256_test.json", "keyJwk", "RS256")],
    ids=["ecdsa-p256-sha256-p1363", "rsa-2048-sha256-pkcs1"],
)
def test_signature_vectors(vectors: pathlib.Path, name: str, jwk_member: str,
                           algorithm: str) -> None:
    data = _load(vectors, name)
    run = 0
    mismatches: list[str] = []
    for group in data["testGroups"]:
        try:
            loaded: list[VerificationKey] = list(parse_pem(group["publicKeyPem"]).values())
        except JWKSError as exc:
            # A key the library refuses to load never verifies anything: listed below.
            assert jwk_member not in group or not parse_jwks({"keys": [group[jwk_member]]})
            for vector in group["tests"]:
                run += 1
                if vector["result"] == "valid":
                    mismatches.append(f"tcId {vector['tcId']} refused: {exc}")
            continue
        if jwk_member in group:
            loaded += list(parse_jwks({"keys": [group[jwk_member]]}).values())
        assert loaded and all(k.algorithm == algorithm for k in loaded)
        for vector in group["tests"]:
            msg, sig = bytes.fromhex(vector["msg"]), bytes.fromhex(vector["sig"])
            answers = {key.verify(msg, sig) for key in loaded}
            assert len(answers) == 1, f"tcId {vector['tcId']}: PEM and JWK keys disagree"
            run += 1
            if not _matches(vector["result"], answers.pop()):
                mismatches.append(f"tcId {vector['tcId']} ({vector['comment']})")
    assert run == data["numberOfTests"]
    assert mismatches == SIGNATURE_DEVIATIONS.get(name, [])


# -- whole tokens --------------------------------------------------------------------------

def signature_stage(verifier: Verifier, token: str) -> Outcome:
    """The verifier's own steps, in its order, up to and including the signature check.

    Returns None when the token's structure and signature are accepted, else the class of
    the refusal. Mirrors ``Verifier.verify`` / ``Verifier._verify`` up to ``key.verify``;
    :func:`_check_token` proves it agrees with the real path on every refusal.
    """
    try:
        if not token:
            raise MissingToken()
        if len(token) > verifier.max_token_size or not token.isascii():
            raise MalformedToken()
        first, last = token.find("."), token.rfind(".")
        if first <= 0 or first == last or token.find(".", first + 1) != last:
            raise MalformedToken()
        alg, kid = verifier._parse_header(token[:first])
        key = verifier.keys.get(kid)
        if key.algorithm != alg:
            raise InvalidSignature()
        b64url_decode(token[first + 1 : last], "payload")
        signature = b64url_decode(token[last + 1 :], "signature")
        if not key.verify(token[:last].encode("ascii"), signature):
            raise InvalidSignature()
    except VerificationError as error:
        return type(error)
    return None


def _stand_in() -> dict[str, t.Any]:
    """An unrelated P-256 key: the keys of a deployment that never issued the token."""
    return ec_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), kid="stand-in")


def _verifier(keys: dict[str, VerificationKey]) -> Verifier:
    verifier = Verifier(AUDIENCE, jwks={"keys": [_stand_in()]}, clock=lambda: NOW)
    if keys:
        verifier.keys = StaticKeys(keys)
    return verifier


def _check_token(verifier: Verifier, token: str) -> Outcome:
    outcome = signature_stage(verifier, token)
    with pytest.raises(VerificationError) as info:
        verifier.verify(token)  # no Wycheproof token carries Pomerium's claims
    if outcome is not None:
        assert type(info.value) is outcome, "signature_stage drifted from Verifier.verify"
    return outcome


def _run_tokens(groups: list[dict[str, t.Any]], key_set: t.Callable[[dict[str, t.Any]], t.Any],
                ) -> tuple[int, dict[int, Outcome]]:
    run = 0
    mismatches: dict[int, Outcome] = {}
    for group in groups:
        document = key_set(group)
        keys = parse_jwks(document) if document is not None else {}
        for vector in group["tests"]:
            outcome = _check_token(_verifier(keys), vector["jws"])
            run += 1
            if not _matches(vector["result"], outcome is None):
                mismatches[vector["tcId"]] = outcome
    return run, mismatches


def _jws_keys(group: dict[str, t.Any]) -> t.Any:
    if "public" in group:
        return {"keys": [group["public"]]}
    # HMAC groups publish only the secret key: hand it over as it is; it must not load.
    return {"keys": [group["private"]]}


def _jwk_keys(group: dict[str, t.Any]) -> t.Any:
    return group.get("public") or group["private"]


@pytest.mark.parametrize(
    ("name", "key_set", "deviations"),
    [("json_web_signature_test.json", _jws_keys, JWS_DEVIATIONS),
     ("json_web_key_test.json", _jwk_keys, JWK_DEVIATIONS)],
    ids=["json-web-signature", "json-web-key"],
)
def test_token_vectors(vectors: pathlib.Path, caplog: pytest.LogCaptureFixture, name: str,
                       key_set: t.Callable[[dict[str, t.Any]], t.Any],
                       deviations: dict[int, tuple[Outcome, str]], base64_decoder: str) -> None:
    caplog.set_level(logging.ERROR, logger="pomerium_wsgi")  # skipped keys are expected
    data = _load(vectors, name)
    run, mismatches = _run_tokens(data["testGroups"], key_set)
    assert run == data["numberOfTests"]
    assert sorted(mismatches) == sorted(deviations), "mismatches differ from the justified list"
    for tc_id, outcome in mismatches.items():
        assert outcome is deviations[tc_id][0], f"tcId {tc_id}: refused with {outcome}"


def test_label_problems_are_what_the_readme_says(vectors: pathlib.Path) -> None:
    """The justifications above rest on these facts about the vector file; check them."""
    data = _load(vectors, "json_web_signature_test.json")
    by_id = {v["tcId"]: v for g in data["testGroups"] for v in g["tests"]}
    assert by_id[367]["jws"] == by_id[370]["jws"] == by_id[357]["jws"]
    assert by_id[357]["result"] == "valid" and by_id[367]["result"] == "invalid"
    assert "?" in by_id[372]["jws"] and "?" in by_id[373]["jws"]
    assert by_id[372]["result"] == by_id[373]["result"] == "valid"
