"""The ``pomerium-wsgi`` command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("pomerium-wsgi: no subcommands yet", file=sys.stderr)
    return 2
