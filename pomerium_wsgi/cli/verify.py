"""``pomerium-wsgi verify``: explain whether a token is valid, check by check.

It reads a token (an argument or stdin; a pasted ``Bearer ...``,
``Authorization: Bearer ...`` or ``X-Pomerium-Jwt-Assertion: ...`` line has its prefix
removed, with a note on stderr), builds a :class:`~pomerium_wsgi.Verifier` from the
options, and prints :func:`~pomerium_wsgi.cli.report.examine`'s report: as text, or as one
JSON object whose ``reason`` is the refusal reason (absent for a valid token). The token
and its signature are never printed, and everything the token or the JWKS carries is
escaped before it reaches the terminal, so the output is safe to paste into a ticket.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import typing as t
import urllib.error

from ..errors import ConfigurationError, KeysUnavailable
from ..keys import SUPPORTED_ALGORITHMS
from ..signals import keys_refresh_failed
from ..verifier import Verifier
from .common import (
    EXIT_INVALID,
    EXIT_USAGE,
    EXIT_VALID,
    PROG,
    LogCollector,
    UsageError,
    iso,
    parse_time,
    read_file,
    unwrap_base64_pem,
)
from .report import Report, examine
from .terminal import dumps, echo, error, escape

# What people paste: a header line copied from a browser's or proxy's request log.
_PREFIX = re.compile(
    r"(?P<prefix>(?:(?:x-pomerium-jwt-assertion|authorization)\s*:\s*)?(?:bearer(?:\s+|$))?)",
    re.IGNORECASE)


def add_parser(sub: t.Any) -> None:
    verify = sub.add_parser(
        "verify", help="explain whether a token is valid, check by check",
        description="Run each check on a token and show the values compared. Exit 0 valid, "
        "1 invalid, 2 usage or configuration error. The token is never printed.")
    verify.add_argument("token", metavar="TOKEN|-",
                        help="the JWT, or - to read it from stdin (a pasted 'Bearer ...' or "
                        "'X-Pomerium-Jwt-Assertion: ...' line works too)")
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
    verify.add_argument("--json", action="store_true",
                        help="print one JSON object: 'reason' (when refused) and the checks")
    verify.set_defaults(handler=cmd_verify)


def read_token(arg: str) -> str:
    """The token from *arg* (or stdin for ``-``), without a pasted header prefix."""
    text = sys.stdin.read() if arg == "-" else arg
    token = text.strip()
    if not token:
        raise UsageError("no token given" + (" on stdin" if arg == "-" else ""))
    match = _PREFIX.match(token)
    prefix = match.group("prefix") if match else ""
    if prefix:
        token = token[len(prefix):].strip()
        error(f"{PROG} verify: note: removed the pasted prefix "
              f"{' '.join(prefix.split())!r}; checking what follows it")
        if not token:
            raise UsageError("no token after the pasted prefix")
    return token


def describe_fetch_error(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        return str(getattr(reason, "strerror", None) or reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def cmd_verify(args: argparse.Namespace, logs: LogCollector) -> int:
    token = read_token(args.token)
    now = parse_time(args.now) if args.now is not None else time.time()
    jwks: str | None = None
    if args.jwks is not None:
        data = unwrap_base64_pem(read_file(args.jwks, "keys file"))
        try:
            jwks = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"keys file {args.jwks!r} is not UTF-8 text") from None
    fetch_errors: list[str] = []

    def on_fetch_failed(sender: object, url: str, error: BaseException) -> None:
        fetch_errors.append(describe_fetch_error(error))

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
            echo(dumps(report.as_dict()))
        else:
            print_report(report)
        sys.stdout.flush()
    except BrokenPipeError:
        # `| head` closed the pipe: the verdict, not the truncated report, sets the exit
        # status. Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if report.valid:
        return EXIT_VALID
    if report.reason == KeysUnavailable.reason:
        why = "; ".join(fetch_errors) or "no usable answer"
        error(f"{PROG} verify: error: cannot get keys from {label}: {why}")
        return EXIT_USAGE
    error(f"{PROG} verify: invalid token ({report.reason}): {report.message}")
    return EXIT_INVALID


def print_report(report: Report) -> None:
    """The human-readable report; every line escaped on its way to the terminal."""
    width = max(len(c.name) for c in report.checks)
    lines = [f"Checking a token as of {iso(report.now)}, keys from {report.keys} "
             "(the token itself is not shown)"]
    lines += [f"  {c.status.upper():4}  {c.name:<{width}}  {c.detail}" for c in report.checks]
    if report.header is not None:
        lines += ["header:", *_indented(dumps(report.header))]
    if report.claims is not None:
        state = ("signature verified" if report.signature_verified
                 else "NOT verified: do not trust them")
        lines += [f"claims ({state}):", *_indented(dumps(report.claims))]
    lines += [f"note: {note}" for note in report.notes]
    if report.valid:
        lines.append(f"verdict: VALID ({report.message.removeprefix('valid: ')})")
    else:
        lines.append(f"verdict: INVALID ({report.reason}): {report.message}")
    for line in lines:
        echo(escape(line))  # a line break inside a value never starts a new line


def _indented(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]
