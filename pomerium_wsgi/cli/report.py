"""``verify``'s check-by-check report: each check the Verifier makes, run on its own.

The report decodes the token *without trusting it* and runs every check separately, so a
person sees each value compared, not just the first failure. Checks are listed in the
Verifier's order of precedence (structure, algorithm, key and signature; claim types;
audience; issuer; times; other claims), so the first failed check names the refusal
reason the Verifier gives. The verdict itself is always ``Verifier.verify``'s own answer
for the same token, keys and instant: the command can never call a token valid that an
app would refuse (or the reverse).
"""

from __future__ import annotations

import dataclasses
import typing as t

from .._jose import b64url_decode, loads_object
from ..casefold import ascii_lower
from ..claims import MAX_TIMESTAMP as _MAX_TIMESTAMP
from ..errors import KeysUnavailable, MalformedToken, UnknownKey, VerificationError
from ..keys import MAX_KID_LENGTH, VerificationKey
from ..verifier import _REFUSED_HEADER_MEMBERS, Verifier
from .common import iso, relative

#: Every check ``verify`` reports, in the Verifier's order of precedence
#: (``not_before`` only when the token has an ``nbf``).
CHECK_NAMES = ("structure", "algorithm", "key", "signature", "claim_types", "audience",
               "issuer", "expiry", "issued_at", "not_before", "claims")

#: The refusal reason a failed check stands for (the ``key`` check may also mean
#: ``keys_unavailable``).
CHECK_REASONS = {
    "structure": "malformed", "algorithm": "signature", "key": "unknown_key",
    "signature": "signature", "claim_types": "claims", "audience": "audience",
    "issuer": "issuer", "expiry": "expired", "issued_at": "not_yet_valid",
    "not_before": "not_yet_valid", "claims": "claims",
}


@dataclasses.dataclass
class Check:
    """One check of ``verify``: its outcome and the values compared."""

    name: str
    status: str  # "pass", "fail" or "skip"
    detail: str
    values: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    reason: str | None = None  # the refusal reason of a failed check

    def __post_init__(self) -> None:
        if self.status == "fail" and self.reason is None:
            self.reason = CHECK_REASONS.get(self.name)

    def as_dict(self) -> dict[str, t.Any]:
        result = {"name": self.name, "status": self.status, "ok": self.status == "pass",
                  "detail": self.detail, "values": self.values}
        if self.status == "fail":
            result["reason"] = self.reason
        return result


@dataclasses.dataclass
class Report:
    """What ``verify`` found: the checks, the decoded parts and the Verifier's verdict."""

    checks: list[Check]
    header: dict[str, t.Any] | None
    claims: dict[str, t.Any] | None
    signature_verified: bool
    valid: bool
    reason: str | None
    message: str
    now: float
    keys: str
    notes: list[str]

    def as_dict(self) -> dict[str, t.Any]:
        """One JSON object: ``reason`` (only when refused) beside the per-check list."""
        result: dict[str, t.Any] = {"valid": self.valid}
        if self.reason is not None:
            result["reason"] = self.reason
        result.update({
            "message": self.message,
            "now": self.now,
            "now_iso": iso(self.now),
            "keys": self.keys,
            "checks": [c.as_dict() for c in self.checks],
            "header": self.header,
            "claims": self.claims,
            "claims_verified": self.signature_verified,
            "notes": self.notes,
        })
        return result


def _is_time(value: object) -> bool:
    # type() rather than isinstance(): bool is an int and must not pass, as in the Verifier.
    return type(value) in (int, float) and 0 <= t.cast(float, value) <= _MAX_TIMESTAMP


def known_kids(verifier: Verifier) -> list[str]:
    source: t.Any = verifier.keys
    kids = getattr(source, "key_ids", None)
    if kids is None:
        kids = tuple(getattr(source, "keys", {}))
    return sorted(kids)


@dataclasses.dataclass
class _Decoded:
    """The token's parts, decoded but not trusted."""

    header: dict[str, t.Any] | None = None
    claims: dict[str, t.Any] | None = None
    signature: bytes | None = None
    signing_input: bytes = b""
    alg: str | None = None
    kid: str | None = None


def _structure(token: str, verifier: Verifier, decoded: _Decoded) -> Check:
    problems: list[str] = []
    size = len(token)
    values: dict[str, t.Any] = {"size": size, "max_size": verifier.max_token_size}
    if size > verifier.max_token_size:
        problems.append(f"{size} characters, over the {verifier.max_token_size} limit")
    elif not token.isascii():
        problems.append("the token is not ASCII")
    else:
        parts = token.split(".")
        values["segments"] = len(parts)
        if len(parts) != 3 or not parts[0]:
            problems.append(f"{len(parts)} dot-separated segments, not the 3 of a compact JWS"
                            if len(parts) != 3 else "the header segment is empty")
        else:
            decoded.signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
            try:
                decoded.header = loads_object(b64url_decode(parts[0], "header"), "header")
            except MalformedToken as exc:
                problems.append(exc.message)
            try:
                decoded.claims = loads_object(b64url_decode(parts[1], "payload"), "payload")
            except MalformedToken as exc:
                problems.append(exc.message)
            try:
                decoded.signature = b64url_decode(parts[2], "signature")
                values["signature_bytes"] = len(decoded.signature)
            except MalformedToken as exc:
                problems.append(exc.message)
    header = decoded.header
    if header is not None:
        raw_alg = header.get("alg")
        if isinstance(raw_alg, str):
            decoded.alg = raw_alg
        else:
            problems.append("the header has no 'alg' string")
        for member in _REFUSED_HEADER_MEMBERS:
            if member in header:
                problems.append(f"the header member {member!r} is not supported")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            problems.append(f"the header 'typ' is {typ!r}, not 'JWT'")
        raw_kid = header.get("kid")
        if isinstance(raw_kid, str) and raw_kid and len(raw_kid) <= MAX_KID_LENGTH:
            decoded.kid = raw_kid
        else:
            problems.append("the header has no usable 'kid'")
        for member in ("jku", "x5u", "x5c", "jwk"):
            if member in header:
                values.setdefault("ignored_header_members", []).append(member)
    if problems:
        return Check("structure", "fail", "; ".join(problems), values)
    return Check("structure", "pass",
                 f"compact JWS of {size} characters: header and payload are canonical "
                 "base64url JSON objects, typ JWT, a kid", values)


def _algorithm(alg: str | None, verifier: Verifier) -> Check:
    allowed = sorted(verifier.algorithms)
    if alg is None:
        return Check("algorithm", "skip", "no algorithm to check", {"allowed": allowed})
    values = {"alg": alg, "allowed": allowed}
    if alg in verifier.algorithms:
        return Check("algorithm", "pass", f"{alg} is allowed ({', '.join(allowed)})", values)
    return Check("algorithm", "fail", f"{alg!r} is not allowed (only {', '.join(allowed)})",
                  values)


def _key(kid: str | None, verifier: Verifier, keys_label: str,
         fetch_errors: t.Sequence[str]) -> tuple[Check, VerificationKey | None]:
    values: dict[str, t.Any] = {"kid": kid, "source": keys_label}
    if kid is None:
        return Check("key", "skip", "no kid to look up", values), None
    try:
        key = verifier.keys.get(kid)
    except UnknownKey:
        values["known_kids"] = known_kids(verifier)
        return Check("key", "fail", f"kid {kid!r} is not among the keys of {keys_label} "
                     f"({', '.join(values['known_kids']) or 'none'})", values), None
    except KeysUnavailable:
        why = "; ".join(fetch_errors) or "no usable answer"
        values["error"] = why
        return Check("key", "fail", f"keys unavailable from {keys_label}: {why}", values,
                     reason=KeysUnavailable.reason), None
    values["key_algorithm"] = key.algorithm
    return Check("key", "pass", f"kid {kid!r} found in {keys_label} ({key.algorithm} key)",
                 values), key


def _signature(decoded: _Decoded, key: VerificationKey | None, verifier: Verifier) -> Check:
    alg, kid = decoded.alg, decoded.kid
    if key is None or decoded.signature is None or alg is None:
        return Check("signature", "skip", "no key or no signature to check")
    if key.algorithm != alg:
        return Check("signature", "fail",
                     f"the token says {alg!r} but its key is for {key.algorithm}",
                     {"alg": alg, "key_algorithm": key.algorithm})
    if alg not in verifier.algorithms:
        return Check("signature", "skip", f"{alg!r} is not an allowed algorithm")
    if key.verify(decoded.signing_input, decoded.signature):
        return Check("signature", "pass", f"{alg} signature verifies with kid {kid!r}",
                     {"alg": alg})
    return Check("signature", "fail", f"{alg} signature does not verify with kid {kid!r}: "
                 "forged, altered, or signed by another key with the same kid", {"alg": alg})


def examine(token: str, verifier: Verifier, now: float, keys_label: str,
            fetch_errors: t.Sequence[str] = ()) -> Report:
    """Run every check on *token* separately, then ask *verifier* for the verdict.

    The verifier must use a clock fixed at *now* (and no token cache), so that both
    views see the same instant and the same keys.
    """
    decoded = _Decoded()
    checks = [_structure(token, verifier, decoded), _algorithm(decoded.alg, verifier)]
    key_check, key = _key(decoded.kid, verifier, keys_label, fetch_errors)
    checks.append(key_check)
    signature = _signature(decoded, key, verifier)
    checks.append(signature)
    _claim_checks(checks, decoded.claims, verifier, now)

    notes: list[str] = []
    reason: str | None
    try:
        identity = verifier.verify(token)
    except VerificationError as exc:
        valid, reason, message = False, exc.reason, exc.message
    else:
        valid, reason, message = True, None, f"valid: {identity}"
    if valid != all(c.status != "fail" for c in checks):
        notes.append("the checks above disagree with the verifier's verdict; "
                     "trust the verdict and please report this")
    return Report(checks, decoded.header, decoded.claims, signature.status == "pass", valid,
                  reason, message, now, keys_label, notes)


def _claim_checks(checks: list[Check], claims: dict[str, t.Any] | None, verifier: Verifier,
                  now: float) -> None:
    """The payload checks, in the Verifier's terms (run even on an unverified payload)."""
    if claims is None:
        names = ("claim_types", "audience", "issuer", "expiry", "issued_at", "claims")
        checks.extend(Check(name, "skip", "no payload to check") for name in names)
        return
    get: t.Callable[[str], t.Any] = claims.get
    times: dict[str, t.Any] = {name: get(name) for name in ("exp", "iat", "nbf") if name in claims}
    bad = [f"{name} {value!r}" for name, value in times.items() if not _is_time(value)]
    missing = [name for name in ("exp", "iat") if name not in claims]
    checks.append(Check(
        "claim_types", "fail" if bad or missing else "pass",
        "; ".join([*(f"{m} is missing" for m in missing),
                   *(f"{b} is not a valid time" for b in bad)])
        or "exp and iat (and nbf, if present) are times", times))

    aud = get("aud")
    expected_aud = sorted(verifier.audiences)
    if type(aud) is str:
        ok = ascii_lower(aud) in verifier.audiences
    elif type(aud) is list and aud and all(type(a) is str for a in aud):
        ok = any(a.lower() in verifier.audiences for a in aud)
    else:
        ok = False
    checks.append(Check(
        "audience", "pass" if ok else "fail",
        f"aud {aud!r} {'names' if ok else 'does not name'} "
        f"{', '.join(map(repr, expected_aud))}", {"aud": aud, "expected": expected_aud}))

    iss = get("iss")
    expected_iss = sorted(verifier.issuers)
    ok = type(iss) is str and iss in verifier.issuers
    checks.append(Check(
        "issuer", "pass" if ok else "fail",
        f"iss {iss!r} {'is' if ok else 'is not'} one of {', '.join(map(repr, expected_iss))}",
        {"iss": iss, "expected": expected_iss}))

    leeway = verifier.leeway

    def time_check(check: str, claim: str, late_is_bad: bool, failure: str) -> None:
        """exp must not be before now - leeway; iat and nbf not after now + leeway."""
        value = get(claim)
        if not _is_time(value):
            checks.append(Check(check, "skip", f"{claim} is not a time (see claim_types)",
                                {claim: value}))
            return
        ok = now <= value + leeway if late_is_bad else value <= now + leeway
        checks.append(Check(
            check, "pass" if ok else "fail",
            f"{claim} {iso(value)} ({relative(value, now)}); now {iso(now)}, "
            f"leeway {leeway:g}s" + ("" if ok else f": {failure}"),
            {claim: value, f"{claim}_iso": iso(value), "now": now, "leeway": leeway}))

    time_check("expiry", "exp", True, "expired")
    time_check("issued_at", "iat", False, "issued in the future (clock skew?)")
    if "nbf" in claims:
        time_check("not_before", "nbf", False, "not valid yet")

    problems: list[str] = []
    sub = get("sub")
    if type(sub) is not str or not sub:
        problems.append("'sub' is missing or not a string")
    groups = get("groups")
    if groups is not None and not (type(groups) is list
                                   and all(type(g) is str for g in groups)):
        problems.append("'groups' is not a list of strings")
    for name in ("email", "user", "name", "sid", "jti"):
        value = get(name)
        # As Verifier: absent is fine, null only for email and name.
        if type(value) is not str and (name in claims and (
                value is not None or name not in ("email", "name"))):
            problems.append(f"{name!r} is not a string")
    checks.append(Check(
        "claims", "fail" if problems else "pass",
        "; ".join(problems) or "sub is set; groups, email, user, name, sid and jti have "
        "the right types",
        {"sub": sub, "groups": groups}))
