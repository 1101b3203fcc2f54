"""The attack corpus: every hostile token shape, with the refusal each one must get.

Each :class:`Case` builds a fresh :class:`~pomerium_wsgi.Verifier` and a token from a
:class:`World` (real keys, a frozen clock, real loopback servers) and names the exact
:class:`~pomerium_wsgi.VerificationError` subclass the verifier must raise. The corpus is
shared by ``test_attacks.py`` (refusal, 401, time bound) and ``test_log_hygiene.py`` (no
token in any log record, message or body), so both always cover the same inputs.

Categories follow the attack classes JOSE libraries have shipped bugs for: algorithm
confusion, ECDSA special values, embedded / remote key headers, critical headers and
serialisation tricks, size and shape, claims, and the JWKS side.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import typing as t

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pomerium_wsgi import (
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    InvalidSignature,
    MalformedToken,
    MissingToken,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    VerificationError,
    Verifier,
)
from pomerium_wsgi.testing import FakePomerium

from ._support import (
    AUDIENCE,
    NOW,
    P256_N,
    P256_P,
    CountingListener,
    DocumentServer,
    PrivateKey,
    b64,
    compact,
    ec_jwk,
    rsa_jwk,
    signed,
)

Token = str | bytes
Build = t.Callable[["World"], tuple[Verifier, Token]]


@dataclasses.dataclass(frozen=True)
class Case:
    """One hostile input and the refusal it must get."""

    id: str
    category: str
    expected: type[VerificationError]
    build: Build


class World:
    """Real keys and servers shared by the whole corpus (built once per session)."""

    def __init__(self, listener: CountingListener, server: DocumentServer) -> None:
        self.listener = listener
        self.server = server
        self.fake = FakePomerium(AUDIENCE, clock=lambda: NOW)
        self.fake_rsa = FakePomerium(AUDIENCE, "RS256", clock=lambda: NOW)
        self.ec_key = _load(self.fake.signing_key.private_pem())
        self.rsa_key = _load(self.fake_rsa.signing_key.private_pem())
        self.ec_kid = self.fake.signing_key.kid
        self.rsa_kid = self.fake_rsa.signing_key.kid
        self.ec_public_jwk = self.fake.signing_key.public_jwk()
        self.rsa_public_jwk = self.fake_rsa.signing_key.public_jwk()
        self.jwks = {"keys": [self.ec_public_jwk, self.rsa_public_jwk]}
        # An attacker's own key pair and a self-signed certificate for it.
        self.attacker = ec.generate_private_key(ec.SECP256R1())
        self.attacker_jwk = ec_jwk(self.attacker.public_key(), kid="attacker", alg="ES256",
                                   use="sig")
        self.attacker_cert = _self_signed(self.attacker)
        # Keys for the JWKS-side cases, generated once (RSA generation is slow).
        self.rsa_1024 = rsa.generate_private_key(65537, 1024)
        self.rsa_1536 = rsa.generate_private_key(65537, 1536)
        self.p384 = ec.generate_private_key(ec.SECP384R1())
        self._served = 0

    # -- verifiers -----------------------------------------------------------------

    def verifier(self, **options: t.Any) -> Verifier:
        """A fresh verifier with static keys and the frozen clock."""
        options.setdefault("jwks", self.jwks)
        return Verifier(AUDIENCE, clock=lambda: NOW, **options)

    def remote_verifier(self, document: t.Any) -> Verifier:
        """A fresh verifier fetching *document* from a real HTTP server on 127.0.0.1."""
        self._served += 1
        url = self.server.publish(f"doc{self._served}", document)
        return Verifier(AUDIENCE, jwks_url=url, clock=lambda: NOW)

    # -- tokens --------------------------------------------------------------------

    def header(self, **members: t.Any) -> dict[str, t.Any]:
        """Pomerium's ES256 header; a member given as ``None`` is removed."""
        base = {"alg": "ES256", "kid": self.ec_kid, "typ": "JWT", **members}
        return {k: v for k, v in base.items() if v is not _DROP}

    def claims(self, **overrides: t.Any) -> dict[str, t.Any]:
        """Pomerium's claims at NOW; a claim given as ``DROP`` is removed."""
        claims = self.fake.claims()
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not _DROP}

    def token(self, header: t.Any = None, payload: t.Any = None,
              key: PrivateKey | None = None) -> str:
        """A token genuinely signed by *key* (default: the published EC key)."""
        return signed(key or self.ec_key, self.header() if header is None else header,
                      self.claims() if payload is None else payload)

    def valid_token(self) -> str:
        return self.token()

    def raw_claims(self, **raw: str) -> bytes:
        """Claims JSON with some members' values given as raw JSON text (1e400, NaN)."""
        claims: dict[str, t.Any] = self.claims(**{k: f"@@{k}@@" for k in raw})
        text = json.dumps(claims, separators=(",", ":"))
        for name, value in raw.items():
            text = text.replace(f'"@@{name}@@"', value)
        return text.encode("utf-8")


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: Marker: leave this header member / claim out.
DROP: t.Any = _Drop()
_DROP = DROP


def _load(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return key


def _self_signed(key: ec.EllipticCurvePrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.example")])
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=36500))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _hmac_token(w: World, alg: str, secret: bytes) -> str:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384}[alg]
    unsigned = compact(w.header(alg=alg), w.claims()).rsplit(".", 1)[0]
    mac = hmac.new(secret, unsigned.encode("ascii"), digest).digest()
    return unsigned + "." + b64(mac)


def _with_signature(w: World, signature: bytes) -> str:
    unsigned = w.valid_token().rsplit(".", 1)[0]
    return unsigned + "." + b64(signature)


def _rs(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _valid_rs(w: World) -> tuple[str, bytes]:
    token = w.valid_token()
    unsigned, _, sig = token.rpartition(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    return unsigned, raw


# ---------------------------------------------------------------------------------------
# The cases. Every builder returns (verifier, token).

CASES: list[Case] = []


def case(category: str, id: str, expected: type[VerificationError]) -> t.Callable[[Build], Build]:
    def register(build: Build) -> Build:
        CASES.append(Case(f"{category}-{id}", category, expected, build))
        return build
    return register


def _static(make_token: t.Callable[[World], Token]) -> Build:
    return lambda w: (w.verifier(), make_token(w))


def add(category: str, id: str, expected: type[VerificationError],
        make_token: t.Callable[[World], Token]) -> None:
    """Register a case checked by the default static-key verifier."""
    CASES.append(Case(f"{category}-{id}", category, expected, _static(make_token)))


# -- algorithm confusion ---------------------------------------------------------------

for _alg in ("none", "None", "NONE", "nOnE"):
    add("alg", f"{_alg}-empty-signature", InvalidSignature,
        lambda w, a=_alg: compact(w.header(alg=a), w.claims()))
    add("alg", f"{_alg}-with-signature", InvalidSignature,
        lambda w, a=_alg: compact(w.header(alg=a), w.claims()) + w.valid_token().split(".")[2])
add("alg", "missing", MalformedToken, lambda w: w.token(w.header(alg=DROP)))
add("alg", "null", MalformedToken, lambda w: w.token(w.header(alg=None)))
add("alg", "number", MalformedToken, lambda w: w.token(w.header(alg=256)))
add("alg", "list", MalformedToken, lambda w: w.token(w.header(alg=["ES256"])))
add("alg", "ES384", InvalidSignature, lambda w: w.token(w.header(alg="ES384")))
add("alg", "PS256", InvalidSignature, lambda w: w.token(w.header(alg="PS256")))
add("alg", "EdDSA", InvalidSignature, lambda w: w.token(w.header(alg="EdDSA")))
add("alg", "es256-lowercase", InvalidSignature, lambda w: w.token(w.header(alg="es256")))


def _public_forms(w: World) -> dict[str, bytes]:
    public = w.ec_key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return {
        "pem": public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo),
        "der": public.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk-json": json.dumps(w.ec_public_jwk).encode(),
        "raw-point": public.public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint),
    }


for _hs in ("HS256", "HS384"):
    for _form in ("pem", "der", "jwk-json", "raw-point"):
        add("alg", f"{_hs}-keyed-with-public-{_form}", InvalidSignature,
            lambda w, a=_hs, f=_form: _hmac_token(w, a, _public_forms(w)[f]))
add("alg", "HS256-keyed-with-rsa-public-pem", InvalidSignature,
    lambda w: _hmac_token(w, "HS256", w.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)))
# ES256 header naming the RSA key's kid (signed with the EC key), and the reverse.
add("alg", "ES256-token-on-RSA-key", InvalidSignature,
    lambda w: w.token(w.header(kid=w.rsa_kid)))
add("alg", "RS256-token-on-EC-key", InvalidSignature,
    lambda w: w.token(w.header(alg="RS256"), key=w.rsa_key))
add("alg", "RS256-header-on-ES256-signature", InvalidSignature,
    lambda w: w.token(w.header(alg="RS256")))


# -- ECDSA special values ----------------------------------------------------------------

_SPECIAL = {"0": 0, "1": 1, "n-1": P256_N - 1, "n": P256_N}
for _rn, _r in _SPECIAL.items():
    for _sn, _s in _SPECIAL.items():
        add("ecdsa", f"r={_rn},s={_sn}", InvalidSignature,
            lambda w, r=_r, s=_s: _with_signature(w, _rs(r, s)))
add("ecdsa", "r=s=p", InvalidSignature, lambda w: _with_signature(w, _rs(P256_P, P256_P)))
add("ecdsa", "r=s=2^256-1", InvalidSignature,
    lambda w: _with_signature(w, b"\xff" * 64))
add("ecdsa", "s=n-s-malleated-high-s", InvalidSignature,
    # Not a forgery: (r, n-s) is the other valid signature of the same message. It must
    # not turn a modified token into a valid one; here it signs a *different* message.
    lambda w: _with_signature(w, _rs(1, P256_N - 1)))
add("ecdsa", "empty", InvalidSignature, lambda w: _with_signature(w, b""))


def _der_signature(w: World) -> str:
    unsigned = w.valid_token().rsplit(".", 1)[0]
    assert isinstance(w.ec_key, ec.EllipticCurvePrivateKey)
    der = w.ec_key.sign(unsigned.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return unsigned + "." + b64(der)


add("ecdsa", "der-encoded", InvalidSignature, _der_signature)
add("ecdsa", "63-bytes", InvalidSignature,
    lambda w: (lambda u, s: u + "." + b64(s[:63]))(*_valid_rs(w)))
add("ecdsa", "65-bytes-leading-zero", InvalidSignature,
    lambda w: (lambda u, s: u + "." + b64(b"\x00" + s))(*_valid_rs(w)))
add("ecdsa", "65-bytes-trailing-zero", InvalidSignature,
    lambda w: (lambda u, s: u + "." + b64(s + b"\x00"))(*_valid_rs(w)))
add("ecdsa", "66-bytes-33+33", InvalidSignature,
    lambda w: (lambda u, s: u + "." + b64(b"\x00" + s[:32] + b"\x00" + s[32:]))(*_valid_rs(w)))
add("ecdsa", "swapped-r-s", InvalidSignature,
    lambda w: (lambda u, s: u + "." + b64(s[32:] + s[:32]))(*_valid_rs(w)))
def _swapped_payload(w: World) -> str:
    header, _, signature = w.valid_token().split(".")
    return ".".join([header, b64(json.dumps(w.claims(sub="admin"))), signature])


add("ecdsa", "valid-signature-other-payload", InvalidSignature, _swapped_payload)


# -- embedded and remote keys: never used, never fetched ---------------------------------

def _attacker_token(w: World, kid: str | None = None, **members: t.Any) -> str:
    return w.token(w.header(kid=kid or "attacker", **members), key=w.attacker)


add("keys", "jwk-header-own-kid", UnknownKey,
    lambda w: _attacker_token(w, jwk=w.attacker_jwk))
add("keys", "jwk-header-our-kid", InvalidSignature,
    lambda w: _attacker_token(w, w.ec_kid, jwk=w.attacker_jwk))
add("keys", "jku-header-own-kid", UnknownKey,
    lambda w: _attacker_token(w, jku=w.listener.url))
add("keys", "jku-header-our-kid", InvalidSignature,
    lambda w: _attacker_token(w, w.ec_kid, jku=w.listener.url))
add("keys", "x5u-header-own-kid", UnknownKey,
    lambda w: _attacker_token(w, x5u=w.listener.url))
add("keys", "x5c-header-own-kid", UnknownKey,
    lambda w: _attacker_token(w, x5c=[w.attacker_cert]))
add("keys", "x5c-header-our-kid", InvalidSignature,
    lambda w: _attacker_token(w, w.ec_kid, x5c=[w.attacker_cert]))
add("keys", "all-key-headers-no-kid", MalformedToken,
    lambda w: _attacker_token(w, DROP, jwk=w.attacker_jwk, jku=w.listener.url,
                              x5u=w.listener.url, x5c=[w.attacker_cert]))


@case("keys", "jku-header-remote-verifier", UnknownKey)
def _jku_remote(w: World) -> tuple[Verifier, Token]:
    # A verifier that fetches keys: an unknown kid may refetch the *configured* URL,
    # never the one the token names.
    return w.remote_verifier(w.jwks), _attacker_token(w, jku=w.listener.url,
                                                      x5u=w.listener.url)


for _kid_id, _kid in {
    "path-traversal": "../../../../etc/passwd",
    "url": "https://evil.example/jwks.json",
    "sql": "' OR '1'='1'; DROP TABLE keys; --",
    "nul-byte": "abc\x00def",
    "proto": "__proto__",
    "256-chars": "k" * 256,
    "unicode": "ключ",
}.items():
    add("kid", _kid_id, UnknownKey, lambda w, k=_kid: _attacker_token(w, k))
for _kid_id, _kid in {
    "number": 7,
    "null": None,
    "list": [],
    "object": {"kid": "x"},
    "bool": True,
    "empty": "",
    "257-chars": "k" * 257,
    "10KB": "k" * 10_240,
}.items():
    add("kid", _kid_id, MalformedToken, lambda w, k=_kid: w.token(w.header(kid=k)))
add("kid", "missing", MalformedToken, lambda w: w.token(w.header(kid=DROP)))


# -- crit, b64, serialisation, duplicate members ---------------------------------------

for _crit_id, _crit in {
    "unknown": ["urn:example:unknown"],
    "empty": [],
    "not-a-list": "exp",
    "standard-header": ["alg"],
    "b64": ["b64"],
}.items():
    add("crit", _crit_id, MalformedToken, lambda w, c=_crit: w.token(w.header(crit=c)))
add("crit", "b64-false", MalformedToken,
    lambda w: w.token(w.header(b64=False, crit=["b64"])))
add("crit", "b64-false-no-crit", MalformedToken, lambda w: w.token(w.header(b64=False)))
add("crit", "zip", MalformedToken, lambda w: w.token(w.header(zip="DEF")))
add("crit", "enc", MalformedToken, lambda w: w.token(w.header(enc="A256GCM")))
add("crit", "typ-JWE", MalformedToken, lambda w: w.token(w.header(typ="JWE")))
add("crit", "typ-number", MalformedToken, lambda w: w.token(w.header(typ=1)))


def _json_serialization(w: World, general: bool) -> str:
    h, p, s = w.valid_token().split(".")
    if general:
        return json.dumps({"payload": p, "signatures": [{"protected": h, "signature": s}]})
    return json.dumps({"protected": h, "payload": p, "signature": s})


add("crit", "json-flattened", MalformedToken, lambda w: _json_serialization(w, False))
add("crit", "json-general", MalformedToken, lambda w: _json_serialization(w, True))


def _dup_header(w: World, second: str) -> str:
    raw = (f'{{"alg":"ES256","kid":"{w.ec_kid}","typ":"JWT",{second}}}').encode()
    return signed(w.ec_key, raw, w.claims())


add("crit", "duplicate-alg-in-header", MalformedToken,
    lambda w: _dup_header(w, '"alg":"none"'))
add("crit", "duplicate-kid-in-header", MalformedToken,
    lambda w: _dup_header(w, '"kid":"attacker"'))


def _dup_payload(w: World, member: str, value: str) -> str:
    text = json.dumps(w.claims(), separators=(",", ":"))
    return signed(w.ec_key, w.header(), (text[:-1] + f',"{member}":{value}}}').encode())


add("crit", "duplicate-sub-in-payload", MalformedToken,
    lambda w: _dup_payload(w, "sub", '"admin"'))
add("crit", "duplicate-aud-in-payload", MalformedToken,
    lambda w: _dup_payload(w, "aud", '"app.example.com"'))
add("crit", "duplicate-groups-in-payload", MalformedToken,
    lambda w: _dup_payload(w, "groups", '["admins"]'))


# -- size and shape ------------------------------------------------------------------

def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _big_verifier(w: World) -> Verifier:
    # Big enough that the depth, not the size cap, is what the parser meets.
    return w.verifier(max_token_size=1_000_000)


add("shape", "5MB-token", MalformedToken, lambda w: w.valid_token() + "A" * 5_000_000)
add("shape", "5MB-token-bytes", MalformedToken,
    lambda w: (w.valid_token() + "A" * 5_000_000).encode())
add("shape", "just-over-64KiB", MalformedToken,
    lambda w: (lambda tok: tok + "A" * (65_537 - len(tok)))(w.valid_token()))
add("shape", "deep-json-header-default-cap", MalformedToken,
    lambda w: compact(_deep(100_000), w.claims()))
CASES.append(Case("shape-deep-json-header", "shape", MalformedToken,
                  lambda w: (_big_verifier(w), compact(_deep(100_000), w.claims()))))
CASES.append(Case("shape-deep-json-array-header", "shape", MalformedToken,
                  lambda w: (_big_verifier(w), compact(b"[" * 100_000 + b"]" * 100_000,
                                                       w.claims()))))
CASES.append(Case("shape-deep-json-payload-signed", "shape", MalformedToken,
                  lambda w: (_big_verifier(w), signed(w.ec_key, w.header(), _deep(100_000)))))
add("shape", "million-dots", MalformedToken, lambda w: "." * 1_000_000)
add("shape", "64KiB-of-dots", MalformedToken, lambda w: "." * 65_536)
add("shape", "empty", MissingToken, lambda w: "")
for _n in (1, 2, 4, 6):
    add("shape", f"{_n}-segments", MalformedToken,
        lambda w, n=_n: ".".join((w.valid_token().split(".") * 2)[:n]))
add("shape", "jwe-5-segments", MalformedToken,
    lambda w: ".".join([b64('{"alg":"RSA-OAEP","enc":"A256GCM"}'), b64(b"k" * 256),
                        b64(b"iv" * 6), b64(b"ciphertext"), b64(b"tag" * 5)]))
add("shape", "dots-only-3", MalformedToken, lambda w: "..")
add("shape", "empty-header", MalformedToken,
    lambda w: "." + w.valid_token().split(".", 1)[1])
add("shape", "empty-payload-segment", MalformedToken,
    lambda w: signed(w.ec_key, w.header(), b""))
for _pos, _name in ((0, "header"), (1, "payload"), (2, "signature")):
    add("shape", f"padding-in-{_name}", MalformedToken,
        lambda w, i=_pos: ".".join(p + "=" * (-len(p) % 4 or 2) if j == i else p
                                   for j, p in enumerate(w.valid_token().split("."))))


def _std_alphabet(w: World, char: str) -> str:
    """A token whose signature uses the standard alphabet and contains *char*."""
    for _ in range(200):
        unsigned, sig = w.valid_token().rsplit(".", 1)
        std = base64.b64encode(base64.urlsafe_b64decode(sig + "==")).decode().rstrip("=")
        if char in std:
            return unsigned + "." + std
    raise AssertionError(f"no signature with {char!r} in 200 tries")


add("shape", "plus-in-signature", MalformedToken, lambda w: _std_alphabet(w, "+"))
add("shape", "slash-in-signature", MalformedToken, lambda w: _std_alphabet(w, "/"))
add("shape", "plus-in-header", MalformedToken,
    lambda w: "+" + w.valid_token()[1:])
add("shape", "non-canonical-trailing-bits", MalformedToken,
    # Flip the unused low bits of the signature's last character: decodes to the same
    # bytes in lenient decoders, so two parsers would disagree on what was signed.
    lambda w: (lambda tok: tok[:-1] + {"A": "B", "Q": "R", "g": "h", "w": "x"}[tok[-1]])(
        w.valid_token()))
for _ws_id, _ws in {"leading-space": " {}", "trailing-space": "{} ",
                    "trailing-newline": "{}\n", "crlf": "{}\r\n", "tab-inside": "{}\t",
                    "space-after-dot": "{} "}.items():
    if _ws_id == "tab-inside":
        add("shape", _ws_id, MalformedToken,
            lambda w: (lambda tok: tok[:10] + "\t" + tok[10:])(w.valid_token()))
    elif _ws_id == "space-after-dot":
        add("shape", _ws_id, MalformedToken,
            lambda w: w.valid_token().replace(".", ". ", 1))
    else:
        add("shape", _ws_id, MalformedToken, lambda w, f=_ws: f.format(w.valid_token()))
add("shape", "trailing-dot", MalformedToken, lambda w: w.valid_token() + ".")
add("shape", "trailing-segment", MalformedToken, lambda w: w.valid_token() + ".e30")
add("shape", "trailing-A-65-byte-signature", InvalidSignature,
    lambda w: w.valid_token() + "A")
add("shape", "trailing-AA-66-byte-signature", InvalidSignature,
    lambda w: w.valid_token() + "AA")
add("shape", "trailing-junk", MalformedToken, lambda w: w.valid_token() + " junk")
add("shape", "invalid-utf8-bytes", MalformedToken,
    lambda w: w.valid_token().encode() + b"\xff\xfe")
add("shape", "latin1-in-token", MalformedToken, lambda w: w.valid_token() + "\xe9")
add("shape", "invalid-utf8-in-header-json", MalformedToken,
    lambda w: w.token(b'{"alg":"ES256","kid":"\xff\xfe","typ":"JWT"}'))
add("shape", "invalid-utf8-in-payload-json", MalformedToken,
    lambda w: w.token(payload=w.raw_claims(sub='"\xff"').replace(b"\xc3\xbf", b"\xff")))
add("shape", "lone-surrogate-char-in-token", MalformedToken,
    lambda w: w.valid_token()[:20] + "\ud800" + w.valid_token()[20:])
add("shape", "lone-surrogate-escape-in-header", MalformedToken,
    lambda w: w.token(b'{"alg":"ES256","kid":"\\ud800","typ":"JWT"}'))
add("shape", "lone-surrogate-escape-in-payload", MalformedToken,
    lambda w: w.token(payload=w.raw_claims(sub='"\\udc00"')))
add("shape", "nul-byte-in-token", MalformedToken,
    lambda w: (lambda tok: tok[:30] + "\x00" + tok[30:])(w.valid_token()))
add("shape", "raw-nul-in-payload-json", MalformedToken,
    lambda w: w.token(payload=w.raw_claims(sub='"a\x00b"')))
add("shape", "header-not-json", MalformedToken, lambda w: w.token(b"not json"))
add("shape", "header-json-array", MalformedToken, lambda w: w.token(b'["ES256"]'))
add("shape", "header-json-null", MalformedToken, lambda w: w.token(b"null"))
add("shape", "header-NaN", MalformedToken,
    lambda w: w.token(f'{{"alg":"ES256","kid":"{w.ec_kid}","x":NaN}}'.encode()))
add("shape", "payload-json-array", MalformedToken, lambda w: w.token(payload=b"[1,2]"))
add("shape", "payload-json-string", MalformedToken, lambda w: w.token(payload=b'"sub"'))
add("shape", "payload-not-json", MalformedToken, lambda w: w.token(payload=b"\x00\x01"))
add("shape", "header-utf8-bom", MalformedToken,
    lambda w: w.token(b"\xef\xbb\xbf" + json.dumps(w.header()).encode()))


# -- claims (every token below carries a genuine signature) -----------------------------

def _claims_case(id: str, expected: type[VerificationError], **overrides: t.Any) -> None:
    add("claims", id, expected, lambda w: w.token(payload=w.claims(**overrides)))


def _raw_case(id: str, expected: type[VerificationError], **raw: str) -> None:
    add("claims", id, expected, lambda w: w.token(payload=w.raw_claims(**raw)))


for _time in ("exp", "iat"):
    _claims_case(f"{_time}-string", InvalidClaims, **{_time: str(int(NOW) + 100)})
    _claims_case(f"{_time}-bool", InvalidClaims, **{_time: True})
    _claims_case(f"{_time}-null", InvalidClaims, **{_time: None})
    _claims_case(f"{_time}-list", InvalidClaims, **{_time: [int(NOW)]})
    _claims_case(f"{_time}-negative", InvalidClaims, **{_time: -1})
    _claims_case(f"{_time}-year-10000", InvalidClaims, **{_time: 253402300800})
    _claims_case(f"{_time}-2^64", InvalidClaims, **{_time: 2**64})
    _claims_case(f"{_time}-missing", InvalidClaims, **{_time: DROP})
    _raw_case(f"{_time}-NaN", MalformedToken, **{_time: "NaN"})
    _raw_case(f"{_time}-Infinity", MalformedToken, **{_time: "Infinity"})
    _raw_case(f"{_time}-minus-Infinity", MalformedToken, **{_time: "-Infinity"})
    _raw_case(f"{_time}-1e400", InvalidClaims, **{_time: "1e400"})
    _raw_case(f"{_time}-minus-1e400", InvalidClaims, **{_time: "-1e400"})
    # Python refuses to parse integers of more than 4300 digits (a DoS guard).
    _raw_case(f"{_time}-5000-digits", MalformedToken, **{_time: "9" * 5000})
_claims_case("exp-past", TokenExpired, exp=int(NOW) - 31, iat=int(NOW) - 331)
_claims_case("exp-zero", TokenExpired, exp=0, iat=0)
_claims_case("iat-future-beyond-leeway", TokenNotYetValid, iat=int(NOW) + 31,
             exp=int(NOW) + 331)
_claims_case("iat-far-future", TokenNotYetValid, iat=int(NOW) + 10**8, exp=int(NOW) + 10**8)
_claims_case("nbf-future", TokenNotYetValid, nbf=int(NOW) + 3600)
_claims_case("nbf-string", InvalidClaims, nbf="0")
_claims_case("nbf-null", InvalidClaims, nbf=None)
for _aud_id, _aud in {
    "empty-list": [],
    "int": 42,
    "null": None,
    "object": {"aud": AUDIENCE},
    "another-host": "other.example.com",
    "prefix": "app.example",
    "suffix": "example.com",
    "superstring": "app.example.com.evil.example",
    "subdomain": "evil.app.example.com",
    "leading-char": "xapp.example.com",
    "trailing-dot": "app.example.com.",
    "url": "https://evil.example/app.example.com",
    "list-of-others": ["other.example.com", "evil.example"],
    "list-with-int": [42],
    "list-nested": [[AUDIENCE]],
    "empty-string": "",
}.items():
    _claims_case(f"aud-{_aud_id}", InvalidAudience, aud=_aud)
_claims_case("aud-missing", InvalidAudience, aud=DROP)
for _iss_id, _iss in {
    "empty-string": "",
    "int": 42,
    "null": None,
    "list": [AUDIENCE],
    "another-host": "other.example.com",
    "prefix": "app.example",
    "suffix": "example.com",
    "superstring": "app.example.com.evil.example",
    "uri-superstring": "https://app.example.com.evil.example/",
    "http-scheme": "http://app.example.com/",
    "uri-path": "https://app.example.com/evil",
    "uri-userinfo": "https://evil@app.example.com/",
}.items():
    _claims_case(f"iss-{_iss_id}", InvalidIssuer, iss=_iss)
_claims_case("iss-missing", InvalidIssuer, iss=DROP)
_claims_case("sub-missing", InvalidClaims, sub=DROP)
_claims_case("sub-empty", InvalidClaims, sub="")
_claims_case("sub-int", InvalidClaims, sub=42)
_claims_case("groups-string", InvalidClaims, groups="admins")
_claims_case("groups-list-of-ints", InvalidClaims, groups=[1, 2])
_claims_case("email-int", InvalidClaims, email=42)


@case("claims", "another-route-same-pomerium", InvalidAudience)
def _other_route(w: World) -> tuple[Verifier, Token]:
    # Pomerium signs every route with the same key; only iss / aud tell them apart.
    # Both are wrong here; the refusal names the audience, the check that says why.
    other = FakePomerium("other.example.com", key=w.fake.signing_key, clock=lambda: NOW)
    return w.verifier(), other.token()


@case("claims", "another-route-shared-issuer", InvalidAudience)
def _other_route_shared_issuer(w: World) -> tuple[Verifier, Token]:
    # Even where an operator accepts both routes' issuers, aud still refuses it.
    other = FakePomerium("other.example.com", key=w.fake.signing_key, clock=lambda: NOW)
    verifier = w.verifier(issuer=[AUDIENCE, "other.example.com"])
    return verifier, other.token()


# -- the JWKS side: keys that must never verify -----------------------------------------

def _jwks_case(id: str, expected: type[VerificationError],
               make: t.Callable[[World], tuple[list[dict[str, t.Any]], Token]]) -> None:
    """Register the case twice: static keys, and the same document served over HTTP.

    The static JWKS also lists an unrelated good key, so the verifier can be built and
    the doctored entry is what the token meets.
    """
    def static(w: World) -> tuple[Verifier, Token]:
        entries, token = make(w)
        anchor = ec_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), kid="anchor")
        return w.verifier(jwks={"keys": [*entries, anchor]}), token

    def remote(w: World) -> tuple[Verifier, Token]:
        entries, token = make(w)
        return w.remote_verifier({"keys": entries}), token

    CASES.append(Case(f"jwks-{id}-static", "jwks", expected, static))
    CASES.append(Case(f"jwks-{id}-remote", "jwks", expected, remote))


def _ours(w: World, **changes: t.Any) -> dict[str, t.Any]:
    entry = {**w.ec_public_jwk, **changes}
    return {k: v for k, v in entry.items() if v is not DROP}


_jwks_case("use-enc", UnknownKey, lambda w: ([_ours(w, use="enc")], w.valid_token()))
_jwks_case("key-ops-encrypt", UnknownKey,
           lambda w: ([_ours(w, key_ops=["encrypt"])], w.valid_token()))
_jwks_case("key-ops-empty", UnknownKey, lambda w: ([_ours(w, key_ops=[])], w.valid_token()))
_jwks_case("key-ops-not-list", UnknownKey,
           lambda w: ([_ours(w, key_ops="verify")], w.valid_token()))
_jwks_case("alg-RS256-on-ec-key", UnknownKey,
           lambda w: ([_ours(w, alg="RS256")], w.valid_token()))
_jwks_case("alg-none-on-ec-key", UnknownKey,
           lambda w: ([_ours(w, alg="none")], w.valid_token()))


def _rsa_small(w: World, key: rsa.RSAPrivateKey) -> tuple[list[dict[str, t.Any]], Token]:
    entry = rsa_jwk(key.public_key(), kid="small-rsa", alg="RS256", use="sig")
    return [entry], w.token(w.header(alg="RS256", kid="small-rsa"), key=key)


_jwks_case("rsa-1024", UnknownKey, lambda w: _rsa_small(w, w.rsa_1024))
_jwks_case("rsa-1536", UnknownKey, lambda w: _rsa_small(w, w.rsa_1536))


def _rsa_exponent_one(w: World) -> tuple[list[dict[str, t.Any]], Token]:
    # With e = 1 the "signature" is the padded digest itself: anyone can forge it.
    n = w.rsa_key.public_key().public_numbers().n
    entry = {"kty": "RSA", "kid": "e-one", "alg": "RS256", "use": "sig",
             "n": b64(n.to_bytes(256, "big")), "e": "AQ"}
    unsigned = compact(w.header(alg="RS256", kid="e-one"), w.claims())
    unsigned = unsigned.rsplit(".", 1)[0]
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(
        unsigned.encode()).digest()
    em = b"\x00\x01" + b"\xff" * (256 - len(digest_info) - 3) + b"\x00" + digest_info
    return [entry], unsigned + "." + b64(em)


_jwks_case("rsa-exponent-1-forgery", UnknownKey, _rsa_exponent_one)


def _off_curve(w: World) -> tuple[list[dict[str, t.Any]], Token]:
    y = base64.urlsafe_b64decode(w.ec_public_jwk["y"] + "==")
    bad_y = (int.from_bytes(y, "big") ^ 1).to_bytes(32, "big")
    return [_ours(w, y=b64(bad_y))], w.valid_token()


_jwks_case("ec-point-off-curve", UnknownKey, _off_curve)
_jwks_case("ec-point-zero", UnknownKey,
           lambda w: ([_ours(w, x=b64(bytes(32)), y=b64(bytes(32)))], w.valid_token()))


def _p384(w: World, crv: str) -> tuple[list[dict[str, t.Any]], Token]:
    entry = ec_jwk(w.p384.public_key(), kid="p384", alg="ES256", use="sig")
    entry["crv"] = crv
    return [entry], w.token(w.header(kid="p384"), key=w.p384)


_jwks_case("p384-key-for-ES256", UnknownKey, lambda w: _p384(w, "P-384"))
_jwks_case("p384-point-labelled-P-256", UnknownKey, lambda w: _p384(w, "P-256"))


def _with_private(w: World) -> tuple[list[dict[str, t.Any]], Token]:
    # A key whose private half is published is known to everyone who can read the JWKS:
    # a token it signs proves nothing, so the key must not verify anything.
    assert isinstance(w.ec_key, ec.EllipticCurvePrivateKey)
    d = w.ec_key.private_numbers().private_value.to_bytes(32, "big")
    return [_ours(w, d=b64(d))], w.valid_token()


_jwks_case("private-members-published", UnknownKey, _with_private)


def _oct_with_our_kid(w: World) -> tuple[list[dict[str, t.Any]], Token]:
    entry = {"kty": "oct", "kid": w.ec_kid, "alg": "HS256", "k": b64(b"secret" * 6)}
    unsigned = compact(w.header(alg="HS256"), w.claims()).rsplit(".", 1)[0]
    mac = hmac.new(b"secret" * 6, unsigned.encode(), hashlib.sha256).digest()
    return [entry], unsigned + "." + b64(mac)


_jwks_case("oct-key-hs256", InvalidSignature, _oct_with_our_kid)


def _duplicate_kid(w: World, same: bool) -> tuple[list[dict[str, t.Any]], Token]:
    other = ec_jwk(w.attacker.public_key(), kid=w.ec_kid, alg="ES256", use="sig")
    second = dict(w.ec_public_jwk) if same else other
    return [w.ec_public_jwk, second], w.valid_token()


_jwks_case("duplicate-kid-different-keys", UnknownKey, lambda w: _duplicate_kid(w, False))
_jwks_case("duplicate-kid-attacker-signed", UnknownKey,
           lambda w: (_duplicate_kid(w, False)[0], _attacker_token(w, w.ec_kid)))
_jwks_case("duplicate-kid-identical-entries", UnknownKey, lambda w: _duplicate_kid(w, True))


def _rsa_and_ec_same_kid(w: World) -> tuple[list[dict[str, t.Any]], Token]:
    return [w.ec_public_jwk, {**w.rsa_public_jwk, "kid": w.ec_kid}], w.valid_token()


_jwks_case("duplicate-kid-ec-and-rsa", UnknownKey, _rsa_and_ec_same_kid)


def categories() -> dict[str, int]:
    """How many cases each category holds (for the report)."""
    counts: dict[str, int] = {}
    for c in CASES:
        counts[c.category] = counts.get(c.category, 0) + 1
    return counts


_ids = [c.id for c in CASES]
assert len(_ids) == len(set(_ids)), "case ids must be unique"
