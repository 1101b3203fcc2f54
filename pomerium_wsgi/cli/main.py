"""The entry point: the parser of every subcommand, ``--version``, and exit statuses.

Exit status: 0 valid (or done), 1 invalid token, 2 usage or configuration error. Errors
are one line on stderr, never a traceback, except the traceback of the user's own code
that ``dev`` could not import: that one is theirs to read.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import sys
import typing as t

from . import dev, keygen, verify
from .common import EXIT_USAGE, EXIT_VALID, PROG, Handler, LogCollector, Parser, UsageError
from .terminal import error


def version() -> str:
    try:
        return importlib.metadata.version("pomerium-wsgi")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        from .. import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Check Pomerium identity tokens, make keys and "
                    "tokens, and run a WSGI or ASGI app locally with a Pomerium identity.")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    verify.add_parser(sub)
    keygen.add_parsers(sub)
    dev.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 invalid token, 2 usage error)."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args.argv = list(argv)  # dev --reload runs the same command again in a child
    logger = logging.getLogger("pomerium_wsgi")
    logs = LogCollector()
    logger.addHandler(logs)
    command = f"{PROG} {args.command}"
    try:
        handler = t.cast(Handler, args.handler)
        return handler(args, logs)
    except UsageError as exc:
        error(f"{command}: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_VALID  # `| head`: the reader has what it wanted
    except Exception as exc:  # never a traceback; the message names what went wrong
        error(f"{command}: error: {type(exc).__name__}: {str(exc)[:300]}")
        return EXIT_USAGE
    finally:
        logger.removeHandler(logs)
