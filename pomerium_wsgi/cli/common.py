"""What the subcommands share: exit codes, one-line errors, time and claim parsing.

Kept apart from the commands so that each command module reads as the steps of that
command, and so that ``verify`` and ``mint`` parse ``--now`` (and ``mint`` and ``dev``
parse ``--claim``) in exactly the same way.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import logging
import typing as t

from ..testing import TOKEN_LIFETIME, FakePomerium, SigningKey
from .terminal import escape

PROG = "pomerium-wsgi"
EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A wrong argument, an unreadable file, a bad setting: exit 2 with one line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line, like every other error here."""

    def error(self, message: str) -> t.NoReturn:
        self.exit(EXIT_USAGE, escape(f"{self.prog}: error: {message} (see --help)") + "\n")


class LogCollector(logging.Handler):
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


#: A command's handler: the parsed arguments and the log collector in, the exit status out.
Handler = t.Callable[[argparse.Namespace, LogCollector], int]


# -- times -----------------------------------------------------------------------------


def parse_time(text: str) -> float:
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


def iso(timestamp: float) -> str:
    try:
        when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(timestamp)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def span(seconds: float) -> str:
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


def relative(timestamp: float, now: float) -> str:
    delta = timestamp - now
    return f"in {span(delta)}" if delta > 0 else f"{span(delta)} ago"


# -- files and keys --------------------------------------------------------------------


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from None


def unwrap_base64_pem(data: bytes) -> bytes:
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


def load_signing_key(path: str) -> SigningKey:
    data = unwrap_base64_pem(read_file(path, "key file"))
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


# -- claims ----------------------------------------------------------------------------


def parse_claims(items: t.Sequence[str]) -> dict[str, t.Any]:
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


def payload(fake: FakePomerium, email: str, groups: t.Sequence[str],
            extra: t.Mapping[str, t.Any], lifetime: int) -> dict[str, t.Any]:
    """Pomerium's claims for a user, with *extra* claims set or overridden.

    A claim given as ``null`` is left out (``groups`` excepted: old Pomerium sent null).
    """
    claims = fake.claims(email, groups)
    claims["exp"] = claims["iat"] + lifetime
    if "user" in extra and "sub" not in extra:
        claims["sub"] = extra["user"]  # Pomerium sets sub == user
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None or k == "groups"}


def identity_options(parser: argparse.ArgumentParser) -> None:
    """The options that describe the user a minted token speaks for (mint and dev)."""
    parser.add_argument("--email", default="user@example.com", help="the user's email")
    parser.add_argument("--group", action="append", default=[], metavar="GROUP",
                        help="a group the user is in (repeatable)")
    parser.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                        help="set a claim; VALUE is JSON if it parses, else a string "
                        "(repeatable; null leaves the claim out)")
    parser.add_argument("--lifetime", type=int, default=TOKEN_LIFETIME,
                        help=f"seconds until exp (default {TOKEN_LIFETIME}, as Pomerium)")
    parser.add_argument("--issuer-format", choices=("hostOnly", "uri"), default="hostOnly",
                        help="iss as HOST (default) or https://HOST/, as Pomerium's "
                        "jwt_issuer_format")
