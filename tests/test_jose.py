"""The strict base64url and JSON decoding every token goes through (pomerium_wsgi._jose)."""

from __future__ import annotations

import base64
import json
import os

import pytest

from pomerium_wsgi._jose import b64url_decode, loads_object
from pomerium_wsgi.errors import MalformedToken


def assert_nothing_chained(error: BaseException) -> None:
    """A chained decoding exception would show the token's text in a traceback."""
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


@pytest.mark.parametrize("size", range(0, 70), ids=lambda n: f"{n}-bytes")
def test_b64url_round_trips_every_length(size: int, base64_decoder: str) -> None:
    data = os.urandom(size)
    assert b64url_decode(b64url(data), "payload") == data


@pytest.mark.parametrize("data", [b"\xfb\xff\xbf", b"\xff\xef", b"?>", b"\x00\x01"],
                         ids=["both-url-chars", "underscore", "dash", "zeros"])
def test_b64url_uses_the_url_alphabet(data: bytes, base64_decoder: str) -> None:
    encoded = b64url(data)
    assert b64url_decode(encoded, "payload") == data


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param("+_8", id="standard-plus"),
        pytest.param("-/8", id="standard-slash"),
        pytest.param("AAA=", id="padded"),
        pytest.param("AA==", id="padded-two"),
        pytest.param("AA=A", id="padding-inside"),
        pytest.param("A", id="length-1-mod-4"),
        pytest.param("AAAAA", id="length-5"),
        pytest.param("AB", id="trailing-bits-set-2"),
        pytest.param("AAB", id="trailing-bits-set-3"),
        pytest.param("AA AA", id="space"),
        pytest.param("AA\nAA", id="newline"),
        pytest.param("AA.A", id="dot"),
        pytest.param("AA!A", id="bang"),
        pytest.param("AAé", id="non-ascii"),
        pytest.param("AA\x00A", id="nul"),
        pytest.param("AAA\x00", id="nul-last"),
        pytest.param("AAAA\t", id="tab-after"),
        pytest.param("\rAAA", id="carriage-return-first"),
        pytest.param("AA-+", id="mixed-alphabets"),
        pytest.param("AAA=AAAA", id="padding-then-more"),
        pytest.param("AA\x7f", id="delete"),
    ],
)
def test_b64url_refuses_non_canonical_text(segment: str, base64_decoder: str) -> None:
    with pytest.raises(MalformedToken, match="payload is not canonical base64url") as info:
        b64url_decode(segment, "payload")
    assert_nothing_chained(info.value)


def test_the_speedups_decoder_agrees_with_the_default_on_random_text() -> None:
    """Short strings over the URL alphabet and its neighbours: both decoders accept the
    same ones and give the same bytes (each refusal is a MalformedToken)."""
    import functools
    import random

    import pybase64

    from pomerium_wsgi import _jose

    fast = functools.partial(pybase64.b64decode, altchars=b"-_", validate=True)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .\n"
    rng = random.Random(19)
    accepted = 0
    for _ in range(20_000):
        segment = "".join(rng.choices(alphabet, k=rng.randrange(0, 9)))
        outcomes = []
        for decoder in (None, fast):
            _jose.fast_decoder = decoder
            try:
                outcomes.append(b64url_decode(segment, "payload"))
            except MalformedToken:
                outcomes.append(None)
        assert outcomes[0] == outcomes[1], segment
        accepted += outcomes[0] is not None
    assert accepted > 1000  # the sample reaches both outcomes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"a":1}', {"a": 1}, id="compact"),
        pytest.param(' {"a": 1} ', {"a": 1}, id="surrounding-whitespace"),
        pytest.param('\n{"a":[1,2,{"b":null}]}\t', {"a": [1, 2, {"b": None}]}, id="nested"),
        pytest.param('{"s":"\\u00e9\\n"}', {"s": "é\n"}, id="escapes"),
        pytest.param('{"s":"\\ud83d\\ude00"}', {"s": "\U0001f600"}, id="surrogate-pair"),
        pytest.param("{}", {}, id="empty-object"),
    ],
)
def test_loads_object_accepts_json_objects(text: str, expected: object) -> None:
    assert loads_object(text.encode("utf-8"), "payload") == expected == json.loads(text)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   ", id="only-whitespace"),
        pytest.param(b"x", id="not-json"),
        pytest.param(b'{"a":1}x', id="trailing-garbage"),
        pytest.param(b'{"a":1}{"b":2}', id="two-objects"),
        pytest.param(b'{"a":1} ,', id="trailing-comma"),
        pytest.param(b'{"a":1', id="truncated"),
        pytest.param(b'{"a":1,"a":2}', id="duplicate-member"),
        pytest.param(b'{"a":{"b":1,"b":1}}', id="nested-duplicate"),
        pytest.param(b'{"a":NaN}', id="nan"),
        pytest.param(b'{"a":-Infinity}', id="infinity"),
        pytest.param(b'{"a":"\\ud800"}', id="lone-surrogate"),
        pytest.param(b'{"a":"\xff"}', id="invalid-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
    ],
)
def test_loads_object_refuses_anything_else(data: bytes) -> None:
    with pytest.raises(MalformedToken, match="payload is not a valid JSON object") as info:
        loads_object(data, "payload")
    assert_nothing_chained(info.value)


@pytest.mark.parametrize("text", ["[]", "1", '"a"', "null", "true", ' [{"a":1}] '],
                         ids=["array", "number", "string", "null", "true", "array-spaced"])
def test_loads_object_refuses_json_that_is_not_an_object(text: str) -> None:
    with pytest.raises(MalformedToken, match="header is not a JSON object"):
        loads_object(text.encode("ascii"), "header")


@pytest.mark.parametrize("tail", [" ", "\n", "\r\n\t ", " " * 10_000],
                         ids=["space", "newline", "mixed", "long"])
def test_loads_object_accepts_trailing_json_whitespace(tail: str) -> None:
    assert loads_object(('{"a":1}' + tail).encode("ascii"), "header") == {"a": 1}


@pytest.mark.parametrize("tail", ["\x0b", "\x0c", "\u2028", "\u00a0", " x"],
                         ids=["vertical-tab", "form-feed", "line-separator", "nbsp", "garbage"])
def test_loads_object_refuses_other_trailing_characters(tail: str) -> None:
    with pytest.raises(MalformedToken):
        loads_object(('{"a":1}' + tail).encode("utf-8"), "header")
