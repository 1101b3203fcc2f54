"""Coverage-guided fuzzing of token verification and JWKS parsing with atheris.

The CI suite runs bounded hypothesis properties (``tests/security/test_fuzz.py``); this
harness is for long runs on a developer machine. atheris is deliberately not a project
dependency: install it in a scratch virtualenv (``pip install atheris``) and run::

    python fuzz/fuzz_verify.py --write-seeds fuzz/corpus   # once: genuine tokens as seeds
    python fuzz/fuzz_verify.py fuzz/corpus -max_total_time=3600

Each input is split by its first byte into one of five targets. A target "crashes" (and
atheris saves the input) when the library breaks a promise:

* any exception other than ``VerificationError`` escapes ``Verifier.verify``;
* a token verifies that an independent check (canonical base64url, three segments, a
  64-byte ECDSA signature ``cryptography`` accepts) does not call genuine;
* a genuinely signed token verifies although its claims break the rules;
* anything but ``JWKSError`` / ``ConfigurationError`` escapes key loading, or a doctored
  key set (without the real key) verifies a real token.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import pathlib
import sys
import typing as t

try:
    import atheris
except ImportError:  # pragma: no cover - the harness only runs where atheris is installed
    raise SystemExit("this harness needs atheris (pip install atheris); it is not a "
                     "project dependency") from None

with atheris.instrument_imports():
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature,
        encode_dss_signature,
    )

    from pomerium_wsgi import ConfigurationError, VerificationError, Verifier
    from pomerium_wsgi.keys import JWKSError, parse_jwks
    from pomerium_wsgi.testing import FakePomerium, SigningKey

NOW = 1_800_000_000.0
AUDIENCE = "app.example.com"
# A fixed key, so tokens saved in the corpus by one run are still genuine in the next.
KEY = ec.derive_private_key(0x5EED_F00D_C0FFEE_1234_5678_9ABC_DEF0, ec.SECP256R1())
_PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                         serialization.NoEncryption())
FAKE = FakePomerium(AUDIENCE, clock=lambda: NOW, key=SigningKey.from_pem(_PEM))
KID = FAKE.signing_key.kid
VERIFIER = FAKE.verifier()
VALID = FAKE.token()
REAL = FAKE.signing_key.public_jwk()
HEADER = json.dumps({"alg": "ES256", "kid": KID, "typ": "JWT"}).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _sign(header: bytes, payload: bytes) -> str:
    unsigned = f"{_b64(header)}.{_b64(payload)}"
    r, s = decode_dss_signature(KEY.sign(unsigned.encode(), ec.ECDSA(hashes.SHA256())))
    return unsigned + "." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def _genuine(token: str) -> dict[str, t.Any]:
    """An independent check that *token* is canonical and genuinely signed by KEY.

    Returns its claims. A token the library accepted that fails here is a forgery or a
    parser differential: an AssertionError, which atheris reports as a crash.
    """
    parts = token.split(".")
    assert len(parts) == 3, "accepted a token without three segments"
    decoded = [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in parts]
    assert [_b64(d) for d in decoded] == parts, "accepted non-canonical base64url"
    signature = decoded[2]
    assert len(signature) == 64, "accepted an ES256 signature that is not 64 bytes"
    der = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
    try:
        KEY.public_key().verify(der, token.rsplit(".", 1)[0].encode("ascii"),
                                ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AssertionError("verified without a genuine signature") from None
    claims: dict[str, t.Any] = json.loads(decoded[1])
    return claims


def _check(token: t.Any, verifier: Verifier = VERIFIER) -> None:
    """Verify *token*: a refusal is fine; an acceptance must be genuine and rule-abiding."""
    try:
        verifier.verify(token)
    except VerificationError:
        return
    text = token.decode("ascii") if isinstance(token, bytes) else token
    _check_claims(_genuine(text))


def _check_claims(claims: t.Any) -> None:
    """A genuinely signed payload verified: its claims must obey every rule."""
    assert isinstance(claims, dict)
    assert claims.get("iss") in (AUDIENCE, f"https://{AUDIENCE}/")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud
    assert isinstance(auds, list) and any(a.lower() == AUDIENCE for a in auds)
    assert type(claims["exp"]) in (int, float) and claims["exp"] + VERIFIER.leeway >= NOW
    assert type(claims["iat"]) in (int, float) and claims["iat"] <= NOW + VERIFIER.leeway
    assert isinstance(claims.get("sub"), str) and claims["sub"]


def _holds_real_key(document: t.Any) -> bool:
    try:
        key = parse_jwks(document).get(KID)
    except JWKSError:
        return False
    if key is None:
        return False
    public = key.public_jwk()
    return bool(public["x"] == REAL["x"] and public["y"] == REAL["y"])


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    target = fdp.ConsumeIntInRange(0, 4)
    if target == 0:  # arbitrary text
        _check(fdp.ConsumeUnicode(fdp.remaining_bytes()))
    elif target == 1:  # arbitrary bytes
        _check(fdp.ConsumeBytes(fdp.remaining_bytes()))
    elif target == 2:  # header / payload / signature as raw bytes, canonically encoded
        header = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
        payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 2048))
        signature = fdp.ConsumeBytes(fdp.remaining_bytes())
        _check(f"{_b64(header)}.{_b64(payload)}.{_b64(signature)}")
    elif target == 3:  # a genuine signature over an arbitrary payload
        _check(_sign(HEADER, fdp.ConsumeBytes(fdp.remaining_bytes())))
    else:  # a JWKS document
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
        with contextlib.suppress(JWKSError):
            parse_jwks(body)
        try:
            verifier = Verifier(AUDIENCE, jwks=body, clock=lambda: NOW)
        except ConfigurationError:
            return
        try:
            verifier.verify(VALID)
        except VerificationError:
            return
        assert _holds_real_key(body), "a key set without the real key verified a real token"


def write_seeds(folder: pathlib.Path) -> None:
    """Seed inputs: a genuine token, its parts, a payload and the JWKS, per target."""
    folder.mkdir(parents=True, exist_ok=True)
    _, payload, signature = VALID.split(".")
    claims = json.dumps(FAKE.claims()).encode()
    seeds = {
        "text": b"\x00" + VALID.encode(),
        "bytes": b"\x01" + VALID.encode(),
        "parts": b"\x02" + HEADER + payload.encode() + signature.encode(),
        "signed": b"\x03" + claims,
        "jwks": b"\x04" + json.dumps(FAKE.jwks).encode(),
    }
    for name, seed in seeds.items():
        (folder / f"seed-{name}").write_bytes(seed)


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "--write-seeds":
        write_seeds(pathlib.Path(argv[2]))
        return
    logging.disable(logging.CRITICAL)  # skipped-key warnings would flood the terminal
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
