"""Strict decoding of compact JWS pieces.

JOSE libraries are lenient by default (padding, standard-alphabet characters, duplicate
JSON members, NaN): every leniency is a way for two parsers to disagree about what a token
says. Pomerium produces canonical tokens, so anything else is refused here.
"""

from __future__ import annotations

import binascii
import functools
import json
import typing as t

from .errors import MalformedToken

# The last character of a base64url string whose length is 2 or 3 modulo 4 carries bits
# that decode to nothing; canonical encoders set them to zero. These are the characters
# whose unused bits are zero, by length modulo 4 (1 is never a valid length).
_LAST_OK: tuple[frozenset[str], ...] = (
    frozenset(), frozenset(), frozenset("AQgw"), frozenset("AEIMQUYcgkosw048")
)
_PADDING = (b"", b"", b"==", b"=")
_a2b_base64 = binascii.a2b_base64

#: The compiled decoder when ``pybase64`` is installed (``pip install
#: 'pomerium-wsgi[speedups]'``), else None and the standard library decodes. Either one
#: sees only text that passed the canonical checks below; tests run both.
fast_decoder: t.Callable[[bytes], bytes] | None
try:  # a SIMD base64 decoder: on a 10 KB token, a tenth of the standard library's work
    import pybase64
except ImportError:  # pragma: no cover - exercised where the extra is not installed
    fast_decoder = None
else:
    fast_decoder = functools.partial(pybase64.b64decode, altchars=b"-_", validate=True)


def b64url_decode(segment: str, what: str) -> bytes:
    """Decode canonical, unpadded base64url or raise :class:`MalformedToken`."""
    n = len(segment) % 4
    if (
        n == 1
        or (n and segment[-1] not in _LAST_OK[n])
        # After the replacements below "+" and "/" would pass as the standard alphabet,
        # and "=" as padding: refuse them first. The decoders' strict modes refuse
        # everything else. (Two replace() calls and three searches cost a quarter of one
        # bytes.translate() on a 10 KB token.)
        or "+" in segment
        or "/" in segment
        or "=" in segment
    ):
        raise MalformedToken(f"the token's {what} is not canonical base64url")
    try:
        data = segment.encode("ascii") + _PADDING[n]
        if fast_decoder is not None:
            return fast_decoder(data)
        return _a2b_base64(data.replace(b"-", b"+").replace(b"_", b"/"), strict_mode=True)
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
_scan_once: t.Callable[[str, int], tuple[t.Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


def loads_object(data: bytes, what: str) -> dict[str, t.Any]:
    """Parse UTF-8 JSON text that must be an object, strictly."""
    try:
        text = data.decode("utf-8")
        # The C scanner directly: JSONDecoder.decode adds two regular-expression matches
        # for surrounding whitespace, which compact JSON (what Pomerium sends) never has.
        # Leading whitespace or no JSON at all takes the full path, which accepts or
        # refuses it as json does; trailing whitespace is skipped here, not parsed twice.
        try:
            value, end = _scan_once(text, 0)
        except StopIteration:
            value = _decoder.decode(text)
        else:
            if end != len(text) and text[end:].strip(" \t\n\r"):  # JSON's whitespace only
                raise ValueError("trailing data after the JSON value")
        if "\\" in text:  # (a one-character search is ~50x faster than one for "\\u")
            # An escaped lone surrogate decodes to a str that cannot be encoded again:
            # it would crash whatever logs or forwards the claim later.
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise MalformedToken(f"the token's {what} is not a valid JSON object") from None
    if type(value) is not dict:
        raise MalformedToken(f"the token's {what} is not a JSON object")
    return value
