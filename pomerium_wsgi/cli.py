"""The ``pomerium-wsgi`` command: check a token by hand, make keys and tokens, run an app.

``verify``
    Explains a token: it decodes the header and payload *without trusting them*, runs each
    check the :class:`~pomerium_wsgi.Verifier` makes (structure, algorithm, key, signature,
    issuer, audience, expiry, issued-at, not-before, claim types) separately and prints
    each with the values compared. The verdict itself is always the Verifier's own answer
    for the same token, keys, settings and instant, so the command can never call a token
    valid that an app would refuse (or the reverse). The token and its signature are never
    printed: the output is safe to paste into a ticket.
``keygen``
    A fresh signing key as PEM (or base64 PEM, the form Pomerium's ``signing_key`` option
    takes) and the JWKS Pomerium would publish for it, with Pomerium's ``kid``.
``mint``
    A token with exactly Pomerium's header and claims, signed with a key file.
``dev``
    Serves any WSGI app on a loopback address with a freshly minted token injected into
    every request and ``POMERIUM_AUDIENCE`` / ``POMERIUM_JWKS_URL`` pointed at a local JWKS
    server, so the app verifies exactly what it would verify behind Pomerium.

Exit status: 0 valid (or done), 1 invalid token, 2 usage or configuration error. Errors
are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime as dt
import importlib
import json
import logging
import os
import signal
import socketserver
import sys
import time
import typing as t
import urllib.error
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ._jose import b64url_decode, loads_object
from .errors import (
    ConfigurationError,
    KeysUnavailable,
    MalformedToken,
    UnknownKey,
    VerificationError,
)
from .keys import MAX_KID_LENGTH, SUPPORTED_ALGORITHMS, VerificationKey, is_loopback
from .signals import keys_refresh_failed
from .testing import TOKEN_LIFETIME, FakePomerium, SigningKey
from .verifier import _MAX_TIMESTAMP, _REFUSED_HEADER_MEMBERS, Verifier

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PROG = "pomerium-wsgi"
EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A wrong argument, an unreadable file, a bad setting: exit 2 with one line."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line, like every other error here."""

    def error(self, message: str) -> t.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class _LogCollector(logging.Handler):
    """Keeps the library's log lines (a skipped key, a failed fetch) to report them.

    Attached to the ``pomerium_wsgi`` logger while a command runs, it also stops Python's
    last-resort handler from printing them as stray stderr lines.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages.append(record.getMessage())


# -- small helpers ---------------------------------------------------------------------


def _parse_time(text: str) -> float:
    """A Unix timestamp or an ISO 8601 date-time (naive means UTC)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--now {text!r} is neither a Unix timestamp nor an ISO 8601 date-time"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _iso(timestamp: float) -> str:
    try:
        when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(timestamp)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _span(seconds: float) -> str:
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes and not days:
        parts.append(f"{minutes}m")
    if not days and not hours:
        parts.append(f"{secs}s")
    return " ".join(parts) or "0s"


def _relative(timestamp: float, now: float) -> str:
    delta = timestamp - now
    return f"in {_span(delta)}" if delta > 0 else f"{_span(delta)} ago"


def _is_time(value: object) -> bool:
    # type() rather than isinstance(): bool is an int and must not pass, as in the Verifier.
    return type(value) in (int, float) and 0 <= t.cast(float, value) <= _MAX_TIMESTAMP


def _read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from None


def _unwrap_base64_pem(data: bytes) -> bytes:
    """Pomerium's ``signing_key`` is base64 of a PEM: accept that form as well."""
    if b"-----BEGIN" in data:
        return data
    stripped = data.strip()
    if not stripped or stripped.startswith(b"{"):
        return data
    try:
        decoded = base64.b64decode(b"".join(stripped.split()), validate=True)
    except ValueError:
        return data
    return decoded if b"-----BEGIN" in decoded else data


def _parse_claims(items: t.Sequence[str]) -> dict[str, t.Any]:
    """``k=v`` pairs; the value is JSON when it parses as JSON, else the plain string."""
    claims: dict[str, t.Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--claim {item!r} is not NAME=VALUE")
        try:
            value: t.Any = json.loads(raw)
        except ValueError:
            value = raw
        claims[name.strip()] = value
    return claims


def _payload(fake: FakePomerium, email: str, groups: t.Sequence[str],
             extra: t.Mapping[str, t.Any], lifetime: int) -> dict[str, t.Any]:
    """Pomerium's claims for a user, with *extra* claims set or overridden.

    A claim given as ``null`` is left out (``groups`` excepted: old Pomerium sent null).
    """
    payload = fake.claims(email, groups)
    payload["exp"] = payload["iat"] + lifetime
    if "user" in extra and "sub" not in extra:
        payload["sub"] = extra["user"]  # Pomerium sets sub == user
    payload.update(extra)
    return {k: v for k, v in payload.items() if v is not None or k == "groups"}


def _load_signing_key(path: str) -> SigningKey:
    data = _unwrap_base64_pem(_read_file(path, "key file"))
    try:
        key = SigningKey.from_pem(data)
    except Exception:
        raise UsageError(
            f"{path!r} is not a private key PEM (EC P-256 or RSA; base64 PEM also works)"
        ) from None
    try:
        key.verification_key()
    except Exception:
        raise UsageError(
            f"{path!r} holds a key Pomerium cannot sign with (EC P-256 or RSA of 2048+ bits)"
        ) from None
    return key


# -- verify ----------------------------------------------------------------------------


@dataclasses.dataclass
class Check:
    """One check of ``verify``: its outcome and the values compared."""

    name: str
    status: str  # "pass", "fail" or "skip"
    detail: str
    values: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, t.Any]:
        return {"name": self.name, "status": self.status, "ok": self.status == "pass",
                "detail": self.detail, "values": self.values}


#: Every check ``verify`` reports, in order (``not_before`` only when the token has nbf).
CHECK_NAMES = ("structure", "algorithm", "key", "signature", "issuer", "audience",
               "expiry", "issued_at", "not_before", "claims")


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
        return {
            "valid": self.valid,
            "reason": self.reason,
            "message": self.message,
            "now": self.now,
            "now_iso": _iso(self.now),
            "keys": self.keys,
            "checks": [c.as_dict() for c in self.checks],
            "header": self.header,
            "claims": self.claims,
            "claims_verified": self.signature_verified,
            "notes": self.notes,
        }


def _known_kids(verifier: Verifier) -> list[str]:
    source: t.Any = verifier.keys
    kids = getattr(source, "key_ids", None)
    if kids is None:
        kids = tuple(getattr(source, "keys", {}))
    return sorted(kids)


def examine(token: str, verifier: Verifier, now: float, keys_label: str,
            fetch_errors: t.Sequence[str] = ()) -> Report:
    """Run every check on *token* separately, then ask *verifier* for the verdict.

    The verifier must use a clock fixed at *now* (and no token cache), so that both
    views see the same instant and the same keys.
    """
    checks: list[Check] = []
    header: dict[str, t.Any] | None = None
    claims: dict[str, t.Any] | None = None
    signature: bytes | None = None
    signing_input = b""
    alg: str | None = None
    kid: str | None = None

    # structure ---------------------------------------------------------------------
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
            signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
            try:
                header = loads_object(b64url_decode(parts[0], "header"), "header")
            except MalformedToken as exc:
                problems.append(exc.message)
            try:
                claims = loads_object(b64url_decode(parts[1], "payload"), "payload")
            except MalformedToken as exc:
                problems.append(exc.message)
            try:
                signature = b64url_decode(parts[2], "signature")
                values["signature_bytes"] = len(signature)
            except MalformedToken as exc:
                problems.append(exc.message)
    if header is not None:
        raw_alg = header.get("alg")
        if isinstance(raw_alg, str):
            alg = raw_alg
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
            kid = raw_kid
        else:
            problems.append("the header has no usable 'kid'")
        for member in ("jku", "x5u", "x5c", "jwk"):
            if member in header:
                values.setdefault("ignored_header_members", []).append(member)
    if problems:
        checks.append(Check("structure", "fail", "; ".join(problems), values))
    else:
        checks.append(Check(
            "structure", "pass",
            f"compact JWS of {size} characters: header and payload are canonical base64url "
            "JSON objects, typ JWT, a kid", values))

    # algorithm ---------------------------------------------------------------------
    allowed = sorted(verifier.algorithms)
    if alg is None:
        checks.append(Check("algorithm", "skip", "no algorithm to check", {"allowed": allowed}))
    elif alg in verifier.algorithms:
        checks.append(Check("algorithm", "pass", f"{alg} is allowed ({', '.join(allowed)})",
                            {"alg": alg, "allowed": allowed}))
    else:
        checks.append(Check("algorithm", "fail",
                            f"{alg!r} is not allowed (only {', '.join(allowed)})",
                            {"alg": alg, "allowed": allowed}))

    # key ---------------------------------------------------------------------------
    key: VerificationKey | None = None
    key_values: dict[str, t.Any] = {"kid": kid, "source": keys_label}
    if kid is None:
        checks.append(Check("key", "skip", "no kid to look up", key_values))
    else:
        try:
            key = verifier.keys.get(kid)
        except UnknownKey:
            key_values["known_kids"] = _known_kids(verifier)
            checks.append(Check(
                "key", "fail",
                f"kid {kid!r} is not among the keys of {keys_label} "
                f"({', '.join(key_values['known_kids']) or 'none'})", key_values))
        except KeysUnavailable:
            why = "; ".join(fetch_errors) or "no usable answer"
            key_values["error"] = why
            checks.append(Check("key", "fail", f"keys unavailable from {keys_label}: {why}",
                                key_values))
        else:
            key_values["key_algorithm"] = key.algorithm
            checks.append(Check("key", "pass",
                                f"kid {kid} found in {keys_label} ({key.algorithm} key)",
                                key_values))

    # signature ---------------------------------------------------------------------
    signature_verified = False
    if key is None or signature is None or alg is None:
        checks.append(Check("signature", "skip", "no key or no signature to check"))
    elif key.algorithm != alg:
        checks.append(Check("signature", "fail",
                            f"the token says {alg} but its key is for {key.algorithm}",
                            {"alg": alg, "key_algorithm": key.algorithm}))
    elif alg not in verifier.algorithms:
        checks.append(Check("signature", "skip", f"{alg} is not an allowed algorithm"))
    elif key.verify(signing_input, signature):
        signature_verified = True
        checks.append(Check("signature", "pass", f"{alg} signature verifies with kid {kid}",
                            {"alg": alg}))
    else:
        checks.append(Check("signature", "fail",
                            f"{alg} signature does not verify with kid {kid}: forged, "
                            "altered, or signed by another key with the same kid",
                            {"alg": alg}))

    _claim_checks(checks, claims, verifier, now)

    # the verdict: the Verifier's own answer ----------------------------------------
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
    return Report(checks, header, claims, signature_verified, valid, reason, message, now,
                  keys_label, notes)


def _claim_checks(checks: list[Check], claims: dict[str, t.Any] | None, verifier: Verifier,
                  now: float) -> None:
    """The payload checks, in the Verifier's terms (run even on an unverified payload)."""
    names = ("issuer", "audience", "expiry", "issued_at", "claims")
    if claims is None:
        checks.extend(Check(name, "skip", "no payload to check") for name in names)
        return
    get: t.Callable[[str], t.Any] = claims.get

    iss = get("iss")
    expected_iss = sorted(verifier.issuers)
    ok = type(iss) is str and iss in verifier.issuers
    checks.append(Check(
        "issuer", "pass" if ok else "fail",
        f"iss {iss!r} {'is' if ok else 'is not'} one of {', '.join(map(repr, expected_iss))}",
        {"iss": iss, "expected": expected_iss}))

    aud = get("aud")
    expected_aud = sorted(verifier.audiences)
    if type(aud) is str:
        ok = aud.lower() in verifier.audiences
    elif type(aud) is list and aud and all(type(a) is str for a in aud):
        ok = any(a.lower() in verifier.audiences for a in aud)
    else:
        ok = False
    checks.append(Check(
        "audience", "pass" if ok else "fail",
        f"aud {aud!r} {'names' if ok else 'does not name'} "
        f"{', '.join(map(repr, expected_aud))}", {"aud": aud, "expected": expected_aud}))

    leeway = verifier.leeway

    def time_check(check: str, claim: str, late_is_bad: bool, failure: str) -> None:
        """exp must not be before now - leeway; iat and nbf not after now + leeway."""
        value = get(claim)
        if not _is_time(value):
            checks.append(Check(check, "fail", f"{claim} {value!r} is not a valid time",
                                {claim: value}))
            return
        ok = now <= value + leeway if late_is_bad else value <= now + leeway
        checks.append(Check(
            check, "pass" if ok else "fail",
            f"{claim} {_iso(value)} ({_relative(value, now)}); now {_iso(now)}, "
            f"leeway {leeway:g}s" + ("" if ok else f": {failure}"),
            {claim: value, f"{claim}_iso": _iso(value), "now": now, "leeway": leeway}))

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


def _print_report(report: Report, out: t.TextIO) -> None:
    width = max(len(c.name) for c in report.checks)
    print(f"Checking a token as of {_iso(report.now)}, keys from {report.keys} "
          "(the token itself is not shown)", file=out)
    for check in report.checks:
        print(f"  {check.status.upper():4}  {check.name:<{width}}  {check.detail}", file=out)
    if report.header is not None:
        print("header:", file=out)
        print(_indent(json.dumps(report.header, indent=2, ensure_ascii=False)), file=out)
    if report.claims is not None:
        state = ("signature verified" if report.signature_verified
                 else "NOT verified: do not trust them")
        print(f"claims ({state}):", file=out)
        print(_indent(json.dumps(report.claims, indent=2, ensure_ascii=False)), file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    if report.valid:
        print(f"verdict: VALID ({report.message.removeprefix('valid: ')})", file=out)
    else:
        print(f"verdict: INVALID ({report.reason}): {report.message}", file=out)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _read_token(arg: str) -> str:
    text = sys.stdin.read() if arg == "-" else arg
    token = text.strip()
    if not token:
        raise UsageError("no token given" + (" on stdin" if arg == "-" else ""))
    return token


def cmd_verify(args: argparse.Namespace, logs: _LogCollector) -> int:
    token = _read_token(args.token)
    now = _parse_time(args.now) if args.now is not None else time.time()
    if args.jwks is not None and args.jwks_url is not None:
        raise UsageError("give either --jwks FILE or --jwks-url URL, not both")
    jwks: str | None = None
    if args.jwks is not None:
        data = _unwrap_base64_pem(_read_file(args.jwks, "keys file"))
        try:
            jwks = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"keys file {args.jwks!r} is not UTF-8 text") from None
    fetch_errors: list[str] = []

    def on_fetch_failed(sender: object, url: str, error: BaseException) -> None:
        fetch_errors.append(_describe_fetch_error(error))

    keys_refresh_failed.connect(on_fetch_failed)
    try:
        try:
            verifier = Verifier(
                args.audience,
                issuer=args.issuer or None,
                jwks_url=args.jwks_url,
                jwks=jwks,
                algorithms=args.algorithm or SUPPORTED_ALGORITHMS,
                leeway=args.leeway,
                token_cache_size=0,
                clock=lambda: now,
            )
        except ConfigurationError as exc:
            raise UsageError(str(exc)) from None
        label = args.jwks if jwks is not None else getattr(verifier.keys, "url", "JWKS URL")
        report = examine(token, verifier, now, label, fetch_errors)
    finally:
        keys_refresh_failed.disconnect(on_fetch_failed)
    report.notes[:0] = [m for m in logs.messages if m not in report.notes]
    try:
        if args.json:
            print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        else:
            _print_report(report, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # `| head` closed the pipe: the verdict, not the truncated report, sets the exit
        # status. Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if report.valid:
        return EXIT_VALID
    if report.reason == KeysUnavailable.reason:
        why = "; ".join(fetch_errors) or "no usable answer"
        print(f"{PROG} verify: error: cannot get keys from {label}: {why}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{PROG} verify: invalid token ({report.reason}): {report.message}",
          file=sys.stderr)
    return EXIT_INVALID


def _describe_fetch_error(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(
        error, urllib.error.HTTPError
    ):
        reason = error.reason
        return str(getattr(reason, "strerror", None) or reason)
    if isinstance(error, TimeoutError):
        return "timed out"
    text = str(error)
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


# -- keygen / mint -----------------------------------------------------------------------


def _write_secret(path: str, data: bytes, force: bool) -> None:
    """Write a private key readable by its owner only, never over an existing file."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"{path!r} exists; choose another path or pass --force") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path!r}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def cmd_keygen(args: argparse.Namespace, logs: _LogCollector) -> int:
    key = SigningKey(args.algorithm)
    pem = key.private_pem()
    secret = base64.b64encode(pem) + b"\n" if args.base64 else pem
    jwks = json.dumps({"keys": [key.public_jwk()]}, indent=2)
    if args.out:
        _write_secret(args.out, secret, args.force)
        print(f"{PROG} keygen: wrote the {args.algorithm} private key to {args.out} "
              f"(kid {key.kid}); its JWKS follows on stdout", file=sys.stderr)
    else:
        sys.stdout.write(secret.decode("ascii"))
    print(jwks)
    return EXIT_VALID


def cmd_mint(args: argparse.Namespace, logs: _LogCollector) -> int:
    key = _load_signing_key(args.key)
    if args.lifetime <= 0:
        raise UsageError("--lifetime must be a positive number of seconds")
    now = _parse_time(args.now) if args.now is not None else time.time()
    try:
        fake = FakePomerium(args.audience, key.algorithm, issuer_format=args.issuer_format,
                            clock=lambda: now, key=key)
    except (ConfigurationError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    payload = _payload(fake, args.email, args.group, _parse_claims(args.claim), args.lifetime)
    print(key.sign(payload))
    return EXIT_VALID


# -- dev -------------------------------------------------------------------------------


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: t.Any) -> None:
        sys.stderr.write(f"{self.address_string()} - {format % args}\n")


def _load_app(spec: str) -> WSGIApplication:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"{spec!r} is not MODULE:APP (for example examples.wsgi.app:app)")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as gunicorn does: the app lives beside the user
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise UsageError(f"cannot import {module_name!r}: no module named {exc.name!r} "
                             "(run from the directory that contains it)") from None
        raise UsageError(f"importing {module_name!r} failed: {exc}") from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        text = str(exc)[:300]
        raise UsageError(f"importing {module_name!r} failed: {type(exc).__name__}"
                         + (f": {text}" if text else "")) from None
    app: t.Any = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no attribute {attr!r}") from None
    if not callable(app):
        raise UsageError(f"{spec} is not a WSGI application (not callable)")
    return t.cast("WSGIApplication", app)


def inject_identity(app: WSGIApplication, mint: t.Callable[[], str],
                    header: str = "X-Pomerium-Jwt-Assertion") -> WSGIApplication:
    """Wrap *app* so each request carries a token from *mint*, as Pomerium sends it."""
    key = "HTTP_" + header.upper().replace("-", "_")

    def with_identity(environ: WSGIEnvironment,
                      start_response: StartResponse) -> t.Iterable[bytes]:
        environ[key] = mint()
        return app(environ, start_response)

    return with_identity


def cmd_dev(args: argparse.Namespace, logs: _LogCollector) -> int:
    if not is_loopback(args.host) and not args.allow_remote:
        raise UsageError(
            f"--host {args.host} is not a loopback address: every request gets a signed "
            "identity, so anyone who can connect would be logged in (pass --allow-remote "
            "to do it anyway)")
    if args.lifetime <= 0:
        raise UsageError("--lifetime must be a positive number of seconds")
    extra = _parse_claims(args.claim)
    try:
        fake = FakePomerium(args.audience, args.algorithm)
    except (ConfigurationError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    groups = list(args.group)

    def mint() -> str:
        return fake.signing_key.sign(_payload(fake, args.email, groups, extra, args.lifetime))

    # The app's own log lines (a JWKS fetch, a refused token) are worth seeing here.
    logging.getLogger("pomerium_wsgi").removeHandler(logs)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("pomerium_wsgi").addHandler(stream)
    logging.getLogger("pomerium_wsgi").setLevel(logging.INFO)

    with fake.serve() as jwks_url:
        os.environ["POMERIUM_AUDIENCE"] = fake.audience
        os.environ["POMERIUM_JWKS_URL"] = jwks_url
        app = _load_app(args.app)
        try:
            server = make_server(args.host, args.port, inject_identity(app, mint),
                                 server_class=_ThreadingServer, handler_class=_Handler)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
        host = f"[{args.host}]" if ":" in args.host else args.host
        sample = _payload(fake, args.email, groups, extra, args.lifetime)
        shown: dict[str, t.Any] = {
            k: sample[k] for k in ("email", "groups", "sub", "name") if k in sample
        }
        shown.update({k: v for k, v in extra.items() if k not in shown})
        print(f"{PROG} dev: serving {args.app} at http://{host}:{server.server_port}/", flush=True)
        print(f"  identity: {json.dumps(shown, ensure_ascii=False)} "
              f"(a fresh {args.lifetime}s token on every request)")
        print(f"  POMERIUM_AUDIENCE={fake.audience}")
        print(f"  POMERIUM_JWKS_URL={jwks_url}")
        print("  Ctrl-C stops it.", flush=True)

        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print(f"\n{PROG} dev: stopped", flush=True)
        finally:
            signal.signal(signal.SIGTERM, previous)
            server.server_close()
    return EXIT_VALID


# -- the parser and main -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Check Pomerium identity tokens, make keys and "
                     "tokens, and run a WSGI app locally with a Pomerium identity.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    verify = sub.add_parser(
        "verify", help="explain whether a token is valid, check by check",
        description="Run each check on a token and show the values compared. Exit 0 valid, "
        "1 invalid, 2 usage or configuration error. The token is never printed.")
    verify.add_argument("token", metavar="TOKEN|-", help="the JWT, or - to read it from stdin")
    verify.add_argument("--audience", action="append", required=True, metavar="HOST",
                        help="this app's host as Pomerium routes to it (repeatable)")
    keys = verify.add_mutually_exclusive_group()
    keys.add_argument("--jwks-url", metavar="URL",
                      help="fetch keys here (default: Pomerium's URL for the audience)")
    keys.add_argument("--jwks", metavar="FILE", help="keys from a file: JWKS or PEM")
    verify.add_argument("--issuer", action="append", metavar="ISS",
                        help="accepted iss (repeatable; default: HOST and https://HOST/)")
    verify.add_argument("--algorithm", action="append", choices=SUPPORTED_ALGORITHMS,
                        help="accepted algorithm (repeatable; default both)")
    verify.add_argument("--leeway", type=float, default=30,
                        help="seconds of clock skew allowed (default 30)")
    verify.add_argument("--now", metavar="TIMESTAMP",
                        help="check as of this Unix time or ISO 8601 date-time")
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    verify.set_defaults(handler=cmd_verify)

    keygen = sub.add_parser(
        "keygen", help="make a signing key and its JWKS",
        description="Print (or write) a new private key and print the JWKS Pomerium would "
        "publish for it, with Pomerium's kid.")
    keygen.add_argument("--algorithm", choices=SUPPORTED_ALGORITHMS, default="ES256",
                        help="ES256 (EC P-256, Pomerium's default) or RS256")
    keygen.add_argument("--out", metavar="FILE",
                        help="write the private key here (mode 0600) instead of stdout")
    keygen.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    keygen.add_argument("--base64", action="store_true",
                        help="base64 of the PEM: the form of Pomerium's signing_key option")
    keygen.set_defaults(handler=cmd_keygen)

    def identity_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--email", default="user@example.com", help="the user's email")
        p.add_argument("--group", action="append", default=[], metavar="GROUP",
                       help="a group the user is in (repeatable)")
        p.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                       help="set a claim; VALUE is JSON if it parses, else a string "
                       "(repeatable; null leaves the claim out)")
        p.add_argument("--lifetime", type=int, default=TOKEN_LIFETIME,
                       help=f"seconds until exp (default {TOKEN_LIFETIME}, as Pomerium)")

    mint = sub.add_parser("mint", help="print a Pomerium-shaped token signed with a key file",
                          description="Print a token with Pomerium's header and claims.")
    mint.add_argument("--key", required=True, metavar="FILE",
                      help="private key PEM (or base64 PEM), e.g. from keygen")
    mint.add_argument("--audience", required=True, metavar="HOST", help="the route's host")
    identity_options(mint)
    mint.add_argument("--issuer-format", choices=("hostOnly", "uri"), default="hostOnly",
                      help="iss as HOST (default) or https://HOST/, as Pomerium's "
                      "jwt_issuer_format")
    mint.add_argument("--now", metavar="TIMESTAMP",
                      help="issue as of this Unix time or ISO 8601 date-time")
    mint.set_defaults(handler=cmd_mint)

    dev = sub.add_parser(
        "dev", help="serve a WSGI app locally with a minted identity on every request",
        description="Start a local JWKS server with a fresh key, set POMERIUM_AUDIENCE and "
        "POMERIUM_JWKS_URL, import MODULE and serve APP with a fresh token on every request.")
    dev.add_argument("app", metavar="MODULE:APP", help="e.g. examples.wsgi.app:app")
    identity_options(dev)
    dev.add_argument("--audience", default="app.example.com", metavar="HOST",
                     help="the audience the tokens carry (default app.example.com)")
    dev.add_argument("--algorithm", choices=SUPPORTED_ALGORITHMS, default="ES256")
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on")
    dev.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    dev.add_argument("--allow-remote", action="store_true",
                     help="allow a non-loopback --host (anyone connecting is logged in)")
    dev.set_defaults(handler=cmd_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 invalid token, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logger = logging.getLogger("pomerium_wsgi")
    logs = _LogCollector()
    logger.addHandler(logs)
    command = f"{PROG} {args.command}"
    try:
        handler = t.cast(t.Callable[[argparse.Namespace, _LogCollector], int], args.handler)
        return handler(args, logs)
    except UsageError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_VALID  # `| head`: the reader has what it wanted
    except Exception as exc:  # never a traceback; the message names what went wrong
        print(f"{command}: error: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        logger.removeHandler(logs)
