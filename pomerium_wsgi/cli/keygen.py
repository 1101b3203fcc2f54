"""``pomerium-wsgi keygen`` and ``mint``: a signing key as Pomerium holds one, and tokens.

``keygen`` prints (or writes) a fresh private key as PEM, or base64 PEM (the form of
Pomerium's ``signing_key`` option), and the JWKS Pomerium would publish for it, with
Pomerium's ``kid``. ``mint`` signs a token with exactly Pomerium's header and claims.

A key written with ``--out`` is readable by its owner only, always: it is written to a new
file created with mode 0600 in the destination's directory and renamed into place, so an
existing file's permissions are never inherited and a symlink at the destination is
replaced, never followed (the link's target is left untouched).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import tempfile
import time
import typing as t

from ..errors import ConfigurationError
from ..keys import SUPPORTED_ALGORITHMS
from ..testing import FakePomerium, SigningKey
from .common import (
    EXIT_VALID,
    PROG,
    LogCollector,
    UsageError,
    identity_options,
    load_signing_key,
    parse_claims,
    parse_time,
    payload,
)
from .terminal import dumps, echo, error


def add_parsers(sub: t.Any) -> None:
    keygen = sub.add_parser(
        "keygen", help="make a signing key and its JWKS",
        description="Print (or write) a new private key and print the JWKS Pomerium would "
        "publish for it, with Pomerium's kid.")
    keygen.add_argument("--algorithm", choices=SUPPORTED_ALGORITHMS, default="ES256",
                        help="ES256 (EC P-256, Pomerium's default) or RS256")
    keygen.add_argument("--out", metavar="FILE",
                        help="write the private key here (mode 0600) instead of stdout")
    keygen.add_argument("--force", action="store_true",
                        help="replace --out if it exists (a symlink is replaced, not followed)")
    keygen.add_argument("--base64", action="store_true",
                        help="base64 of the PEM: the form of Pomerium's signing_key option")
    keygen.set_defaults(handler=cmd_keygen)

    mint = sub.add_parser("mint", help="print a Pomerium-shaped token signed with a key file",
                          description="Print a token with Pomerium's header and claims.")
    mint.add_argument("--key", required=True, metavar="FILE",
                      help="private key PEM (or base64 PEM), e.g. from keygen")
    mint.add_argument("--audience", required=True, metavar="HOST", help="the route's host")
    identity_options(mint)
    mint.add_argument("--now", metavar="TIMESTAMP",
                      help="issue as of this Unix time or ISO 8601 date-time")
    mint.set_defaults(handler=cmd_mint)


def write_secret(path: str, data: bytes, force: bool) -> None:
    """Write *data* to *path*, readable by its owner only, atomically.

    Without *force*, an existing path (a dangling symlink included) is refused.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a directory")
    if not force and os.path.lexists(path):
        raise UsageError(f"{path!r} exists; choose another path or pass --force")
    try:
        # mkstemp: O_CREAT | O_EXCL, mode 0600, a name no one else can have chosen.
        fd, temporary = tempfile.mkstemp(prefix=".keygen-", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {path!r}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temporary, path)  # replaces a symlink itself, never its target
        else:
            # link() never overwrites (EEXIST even for a dangling symlink): no race with
            # a file created since the check above.
            os.link(temporary, path)
    except FileExistsError:
        raise UsageError(f"{path!r} exists; choose another path or pass --force") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path!r}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def cmd_keygen(args: argparse.Namespace, logs: LogCollector) -> int:
    key = SigningKey(args.algorithm)
    pem = key.private_pem()
    secret = base64.b64encode(pem) + b"\n" if args.base64 else pem
    jwks = dumps({"keys": [key.public_jwk()]})
    if args.out:
        write_secret(args.out, secret, args.force)
        error(f"{PROG} keygen: wrote the {args.algorithm} private key to {args.out} "
              f"(kid {key.kid}); its JWKS follows on stdout")
    else:
        echo(secret.decode("ascii").rstrip("\n"))
    echo(jwks)
    return EXIT_VALID


def cmd_mint(args: argparse.Namespace, logs: LogCollector) -> int:
    key = load_signing_key(args.key)
    if args.lifetime <= 0:
        raise UsageError("--lifetime must be a positive number of seconds")
    now = parse_time(args.now) if args.now is not None else time.time()
    try:
        fake = FakePomerium(args.audience, key.algorithm, issuer_format=args.issuer_format,
                            clock=lambda: now, key=key)
    except (ConfigurationError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    claims = payload(fake, args.email, args.group, parse_claims(args.claim), args.lifetime)
    echo(key.sign(claims))
    return EXIT_VALID

