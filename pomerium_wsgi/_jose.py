"""Strict decoding of compact JWS pieces.

JOSE libraries are lenient by default (padding, standard-alphabet characters, duplicate
JSON members, NaN): every leniency is a way for two parsers to disagree about what a token
says. Pomerium produces canonical tokens, so anything else is refused here.
"""

from __future__ import annotations

import binascii
import json
import typing as t

from .errors import MalformedToken

# The last character of a base64url string whose length is 2 or 3 modulo 4 carries bits
# that decode to nothing; canonical encoders set them to zero. These are the characters
# whose unused bits are zero.
_LAST_OK_2 = frozenset("AQgw")
_LAST_OK_3 = frozenset("AEIMQUYcgkosw048")
_TO_STD = bytes.maketrans(b"-_", b"+/")  # bytes.translate is far cheaper than str's
_PADDING = (b"", b"", b"==", b"=")


def b64url_decode(segment: str, what: str) -> bytes:
    """Decode canonical, unpadded base64url or raise :class:`MalformedToken`."""
    n = len(segment) % 4
    if (
        n == 1
        # After translation "+" and "/" would pass as the standard alphabet, and "=" as
        # padding: refuse them first. a2b_base64's strict mode refuses everything else.
        or "+" in segment
        or "/" in segment
        or "=" in segment
        or (n == 2 and segment[-1] not in _LAST_OK_2)
        or (n == 3 and segment[-1] not in _LAST_OK_3)
    ):
        raise MalformedToken(f"the token's {what} is not canonical base64url")
    try:
        data = segment.encode("ascii").translate(_TO_STD) + _PADDING[n]
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
        raise MalformedToken(f"the token's {what} is not canonical base64url") from None


def _no_duplicates(pairs: list[tuple[str, t.Any]]) -> dict[str, t.Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member")
    return obj


def _no_constants(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def loads_object(data: bytes, what: str) -> dict[str, t.Any]:
    """Parse UTF-8 JSON text that must be an object, strictly."""
    try:
        text = data.decode("utf-8")
        value = _decoder.decode(text)
        if "\\" in text:  # (a one-character search is ~50x faster than one for "\\u")
            # An escaped lone surrogate decodes to a str that cannot be encoded again:
            # it would crash whatever logs or forwards the claim later.
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise MalformedToken(f"the token's {what} is not a valid JSON object") from None
    if not isinstance(value, dict):
        raise MalformedToken(f"the token's {what} is not a JSON object")
    return value
