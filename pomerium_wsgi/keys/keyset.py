"""Pomerium's public keys as objects: parse a JWKS or PEM text, bind each key to its one
algorithm, and hold a fixed set of them.

No I/O happens here: fetching, caching and refreshing live in the sibling modules, so
this module is all that static keys (``Verifier(jwks=...)``) and the tools need.

Security rules kept here:

* Each key is bound to one algorithm when it is loaded: ES256 only with an EC P-256 key,
  RS256 only with an RSA key of at least 2048 bits and a sane public exponent (odd,
  2^16 < e < 2^256: a huge exponent makes every forged token expensive to refuse). Keys
  that cannot verify (``use: enc``, ``key_ops`` without ``verify``, other curves, short
  RSA) are skipped with a log line; so is a key published with its private members
  (anyone could sign with it); a ``kid`` published twice is refused outright.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import typing as t

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.jwk import ECKey, RSAKey

from .._jose import b64url_decode
from ..errors import ConfigurationError, UnknownKey, VerificationError

log = logging.getLogger("pomerium_wsgi.keys")

#: The algorithms Pomerium signs with, and the only ones this library will ever accept.
SUPPORTED_ALGORITHMS = ("ES256", "RS256")
MIN_RSA_BITS = 2048
#: RSA public exponents accepted: odd, and MIN_RSA_EXPONENT < e < MAX_RSA_EXPONENT.
MIN_RSA_EXPONENT = 2**16
MAX_RSA_EXPONENT = 2**256
#: At most this many keys are read from one JWKS document.
MAX_KEYS = 64
#: The longest ``kid`` accepted (Pomerium's are 64 hex characters).
MAX_KID_LENGTH = 256

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class JWKSError(ValueError):
    """A JWKS document (or PEM text) could not be used."""


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """One public key, bound to the one algorithm it may verify."""

    kid: str
    algorithm: str
    #: The joserfc key object (public part only).
    jwk: ECKey | RSAKey
    #: The ``cryptography`` public key inside *jwk*, taken out once: one attribute
    #: lookup per request instead of a chain through joserfc's key classes.
    public_key: t.Any = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_key", self.jwk.public_key)

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Check *signature* over *signing_input* with this key and its algorithm.

        The same OpenSSL call joserfc's ES256 / RS256 make, on the key joserfc loaded
        and validated, without per-call setup: this runs on every request.
        """
        try:
            if self.algorithm == "ES256":
                # JWS carries ECDSA as raw r || s, 32 bytes each; OpenSSL wants DER.
                if len(signature) != 64:
                    return False
                self.public_key.verify(
                    encode_dss_signature(
                        int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
                    ),
                    signing_input,
                    _ECDSA_SHA256,
                )
            else:
                self.public_key.verify(signature, signing_input, _PKCS1V15, _SHA256)
        except InvalidSignature:
            return False
        return True

    def public_jwk(self) -> dict[str, t.Any]:
        """This key as a public JWK dict, as Pomerium publishes it."""
        data = dict(self.jwk.as_dict(private=False))
        for member in ("key_ops", "use", "alg", "kid"):
            data.pop(member, None)
        return {**data, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def __repr__(self) -> str:
        return f"VerificationKey(kid={self.kid!r}, algorithm={self.algorithm!r})"


def pomerium_kid(public_jwk: t.Mapping[str, t.Any]) -> str:
    """The ``kid`` Pomerium gives a key: lowercase hex SHA-256 RFC 7638 thumbprint."""
    kty = public_jwk["kty"]
    members = ("crv", "kty", "x", "y") if kty == "EC" else ("e", "kty", "n")
    canonical = json.dumps(
        {m: public_jwk[m] for m in members}, separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _import_public(entry: t.Mapping[str, t.Any]) -> tuple[str, ECKey | RSAKey]:
    """Bind a JWK dict to its algorithm, or raise JWKSError saying why it is unusable."""
    kty = entry.get("kty")
    alg = entry.get("alg")
    use = entry.get("use")
    if use is not None and use != "sig":
        raise JWKSError(f"use is {use!r}, not 'sig'")
    ops = entry.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise JWKSError("key_ops does not allow 'verify'")
    if kty == "EC":
        if entry.get("crv") != "P-256":
            raise JWKSError(f"curve {entry.get('crv')!r} is not P-256")
        if alg not in (None, "ES256"):
            raise JWKSError(f"alg {alg!r} does not match an EC P-256 key")
        members: tuple[str, ...] = ("kty", "crv", "x", "y")
        algorithm = "ES256"
    elif kty == "RSA":
        if alg not in (None, "RS256"):
            raise JWKSError(f"alg {alg!r} does not match an RSA key")
        members = ("kty", "n", "e")
        algorithm = "RS256"
    else:
        raise JWKSError(f"key type {kty!r} is not supported")
    public: dict[str, t.Any] = {}
    for member in members:
        value = entry.get(member)
        if not isinstance(value, str) or not value:
            raise JWKSError(f"member {member!r} is missing or not a string")
        public[member] = value
    if kty == "RSA":
        _check_rsa_numbers(public["n"], public["e"])
    try:
        key: ECKey | RSAKey = (ECKey if kty == "EC" else RSAKey).import_key(public)
    except Exception as exc:  # joserfc / cryptography raise many types for bad points
        raise JWKSError(f"the key does not load ({type(exc).__name__})") from None
    return algorithm, key


def _check_rsa_numbers(n: str, e: str) -> None:
    """Refuse a short modulus or an odd-sized exponent before joserfc loads the key.

    joserfc would only warn about a short key. An exponent of 3 is a known foot-gun, an
    even one is no RSA key at all, and a huge one (e near 2^2040) makes each signature
    check on a forged token some fifty times as expensive: the attacker picks the kid.
    """
    try:
        size = int.from_bytes(b64url_decode(n, "RSA modulus")).bit_length()
        # (An exponent longer than 2^256 needs more than 33 bytes: refused unread.)
        raw_e = b64url_decode(e, "RSA exponent")
    except VerificationError:
        raise JWKSError("member 'n' or 'e' is not base64url") from None
    if size < MIN_RSA_BITS:
        raise JWKSError(f"RSA key of {size} bits is under {MIN_RSA_BITS}")
    exponent = int.from_bytes(raw_e[:40])
    if len(raw_e) > 40 or not MIN_RSA_EXPONENT < exponent < MAX_RSA_EXPONENT:
        raise JWKSError("RSA exponent is outside 2^16 < e < 2^256")
    if exponent % 2 == 0:
        raise JWKSError("RSA exponent is even")


def parse_jwks(document: t.Any, *, source: str = "JWKS") -> dict[str, VerificationKey]:
    """Parse a JWKS (dict, or JSON text / bytes) into usable keys by kid.

    Unusable keys are skipped with a warning. A ``kid`` that appears on more than one
    key is refused for every key carrying it (a token naming it would be ambiguous).
    ``{"keys": null}`` (Pomerium with no keys) gives an empty mapping.

    :raises JWKSError: the document is not a JWKS at all.
    """
    if isinstance(document, bytes | str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            raise JWKSError(f"{source} is not valid JSON") from None
    if not isinstance(document, dict) or "keys" not in document:
        raise JWKSError(f"{source} is not a JSON object with a 'keys' member")
    entries = document["keys"]
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise JWKSError(f"{source}: 'keys' is not a list")
    keys: dict[str, VerificationKey] = {}
    # A kid published twice is ambiguous even if one of its keys is unusable.
    kids = [e.get("kid") for e in entries[:MAX_KEYS] if isinstance(e, dict)]
    seen: set[str] = {k for k in kids if isinstance(k, str) and kids.count(k) > 1}
    for dup in seen:
        log.error("%s: kid %r is published more than once; refusing it", source, dup[:80])
    for index, entry in enumerate(entries[:MAX_KEYS]):
        if not isinstance(entry, dict):
            log.warning("%s: key #%d is not an object; skipped", source, index)
            continue
        if _PRIVATE_MEMBERS.intersection(entry):
            # A private key published in a JWKS is known to anyone who fetched it: tokens
            # signed with it prove nothing, so the key is not trusted at all.
            log.error("%s: key #%d publishes private key members; skipped (rotate it)",
                      source, index)
            continue
        try:
            algorithm, jwk = _import_public(entry)
        except JWKSError as exc:
            log.warning("%s: key #%d skipped: %s", source, index, exc)
            continue
        kid = entry.get("kid")
        if kid is None:
            kid = pomerium_kid(jwk.as_dict(private=False))
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            log.warning("%s: key #%d has an unusable kid; skipped", source, index)
            continue
        if kid in seen or kid in keys:  # (computed kids can collide too)
            keys.pop(kid, None)
            seen.add(kid)
            continue
        keys[kid] = VerificationKey(kid, algorithm, jwk)
    if len(entries) > MAX_KEYS:
        log.warning("%s: only the first %d of %d keys are read", source, MAX_KEYS, len(entries))
    return keys


_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z ]+)-----\s.*?-----END \1-----", re.DOTALL
)


def parse_pem(text: str | bytes) -> dict[str, VerificationKey]:
    """Load public keys (or the public half of private keys) from PEM text.

    Each key gets Pomerium's kid, so tokens signed by the matching Pomerium
    ``signing_key`` find it.
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    keys: dict[str, VerificationKey] = {}
    for match in _PEM_BLOCK.finditer(text):
        block = match.group(0).encode("ascii", "replace")
        label = match.group(1)
        try:
            if "PRIVATE" in label:
                public: t.Any = serialization.load_pem_private_key(block, None).public_key()
            else:
                public = serialization.load_pem_public_key(block)
        except Exception as exc:
            raise JWKSError(f"PEM block {label!r} does not load: {type(exc).__name__}") from None
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk: ECKey | RSAKey = ECKey.import_key(public)
        elif isinstance(public, rsa.RSAPublicKey):
            jwk = RSAKey.import_key(public)
        else:
            raise JWKSError(f"PEM block {label!r} is not an EC or RSA key")
        entry = dict(jwk.as_dict(private=False))
        algorithm, jwk = _import_public(entry)
        kid = pomerium_kid(entry)
        keys[kid] = VerificationKey(kid, algorithm, jwk)
    if not keys:
        raise JWKSError("no PEM key found")
    return keys


class KeySource(t.Protocol):
    """Where a Verifier gets keys: :class:`StaticKeys` or :class:`RemoteJWKS`."""

    #: Changes whenever the set of keys changes (verified-token caches key on it).
    generation: int

    def get(self, kid: str) -> VerificationKey:
        """The key for *kid*; raises UnknownKey or KeysUnavailable."""
        ...


class StaticKeys:
    """A fixed set of keys given in configuration (JWKS dict / JSON text, or PEM)."""

    generation = 0

    def __init__(self, keys: t.Mapping[str, VerificationKey]) -> None:
        self.keys = dict(keys)

    @classmethod
    def load(cls, jwks: t.Any) -> StaticKeys:
        """From a JWKS dict, JWKS JSON text, or PEM text; ConfigurationError if unusable."""
        try:
            if isinstance(jwks, str | bytes) and b"-----BEGIN" in (
                jwks if isinstance(jwks, bytes) else jwks.encode("utf-8", "replace")
            ):
                keys = parse_pem(jwks)
            else:
                keys = parse_jwks(jwks, source="jwks setting")
        except JWKSError as exc:
            raise ConfigurationError(f"jwks: {exc}") from None
        if not keys:
            raise ConfigurationError("jwks: no usable key (see the log for why each was skipped)")
        return cls(keys)

    def get(self, kid: str) -> VerificationKey:
        key = self.keys.get(kid)
        if key is None:
            raise UnknownKey()
        return key

    def __repr__(self) -> str:
        return f"StaticKeys(kids={sorted(self.keys)!r})"

