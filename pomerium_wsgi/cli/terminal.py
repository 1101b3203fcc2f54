"""Everything the command writes to a terminal goes through here, escaped.

A token, a JWKS document and an HTTP request are written by someone else. Printed raw,
their text can drive the terminal: ``ESC [2J`` clears the screen, ``\\x9b`` is the C1
form of the same introducer, ``U+202E`` reverses the text that follows, so a crafted
``kid`` or claim could erase the report and print a fake ``verdict: VALID``. Every line
is therefore passed through :func:`escape`, which writes control and format characters
as Python escapes (``\\x1b``, ``\\u202e``): C0 and C1 controls and DEL (``Cc``), format
characters such as bidirectional overrides (``Cf``), line and paragraph separators
(``Zl``, ``Zp``), lone surrogates (``Cs``), private-use (``Co``) and unassigned code
points (``Cn``). JSON is written with every non-ASCII character escaped, and DEL too
(JSON itself does not require it).
"""

from __future__ import annotations

import json
import logging
import sys
import typing as t
import unicodedata

_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape_char(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: str, *, newlines: bool = False) -> str:
    """*text* with every control or format character written as a Python escape.

    With *newlines*, ``\\n`` is kept (for multi-line output the command composed itself;
    anything a token carries is already on one line, inside ``repr`` or JSON).
    """
    if text.isprintable() or (newlines and text.replace("\n", "").isprintable()):
        return text  # the common case, decided at C speed
    out: list[str] = []
    for char in text:
        if char == "\n" and newlines:
            out.append(char)
        elif unicodedata.category(char) in _UNSAFE:
            out.append(_escape_char(char))
        else:
            out.append(char)
    return "".join(out)


def dumps(value: object, *, indent: int | None = 2) -> str:
    """JSON text that is pure printable ASCII, whatever strings *value* holds."""
    text = json.dumps(value, indent=indent, ensure_ascii=True, default=str)
    return text.replace("\x7f", "\\u007f")


def echo(text: str = "", *, file: t.TextIO | None = None, flush: bool = False) -> None:
    """Print *text* (lines of it) escaped, to stdout by default."""
    print(escape(text, newlines=True), file=file or sys.stdout, flush=flush)


def error(text: str) -> None:
    """Print one line to stderr, escaped (newlines included)."""
    print(escape(text), file=sys.stderr, flush=True)


class EscapingFormatter(logging.Formatter):
    """A log formatter whose output is escaped (tracebacks keep their line breaks)."""

    def format(self, record: logging.LogRecord) -> str:
        return escape(super().format(record), newlines=True)
