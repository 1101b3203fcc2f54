"""Case folding for names compared across trust boundaries: ASCII letters only.

Hosts, email addresses and domains are compared case-insensitively, but ``str.lower()``
folds far more than A-Z: the KELVIN SIGN (U+212A) becomes ``k``, so
``"\u212aate@example.com".lower() == "kate@example.com"``, two different addresses that
an IdP may well issue to two different people. Everything that compares such names folds
them here. A module of its own because both the verifier (audiences) and the
authorization requirements (emails, domains) need it, and neither may import the other.
"""

from __future__ import annotations

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """*text* with only the ASCII letters A-Z lower-cased (nothing else folded)."""
    if text.isascii():
        return text.lower()  # the same result on ASCII text, several times faster
    return text.translate(_ASCII_LOWER)
