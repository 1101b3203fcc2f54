"""keys/fetch.py: one JWKS GET against a real server on 127.0.0.1, and what it reports.

An answer that is not a key set (a proxy's login page, an error page, where a redirect
led) is logged with its status, Content-Type and first bytes, escaped; the Content-Type
alone never decides, since static JWKS files are often served as text or octet-stream.
"""

from __future__ import annotations

import json
import logging
import typing as t
from email.message import Message

import pytest

from pomerium_wsgi import ConfigurationError, KeysUnavailable
from pomerium_wsgi.keys import HTTPFetcher, JWKSError, RemoteJWKS
from pomerium_wsgi.keys.fetch import cache_lifetime, check_jwks_url, preview
from pomerium_wsgi.testing import FakePomerium

from .helpers import Clock, JWKSServer

Answer = tuple[int, dict[str, str], bytes]
LOGIN = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"

NOT_A_KEY_SET: dict[str, tuple[t.Callable[[str], Answer], str, str]] = {
    # answer(path) -> (status, headers, body); the status and content type to be logged
    "html-login-page": (lambda path: (200, {"Content-Type": "text/html"}, LOGIN),
                        "HTTP 200", "'text/html'"),
    "json-error": (lambda path: (200, {"Content-Type": "application/json"},
                                 b'{"error": "unauthorized"}'),
                   "HTTP 200", "'application/json'"),
    "error-page": (lambda path: (502, {"Content-Type": "text/html; charset=utf-8"},
                                 b"<html>Bad Gateway</html>"),
                   "HTTP 502", "'text/html; charset=utf-8'"),
    "redirect-to-login": (lambda path: (302, {"Location": "/login?next=jwks"}, b"")
                          if "jwks" in path.split("?")[0]
                          else (200, {"Content-Type": "text/html"}, LOGIN),
                          "HTTP 200", "'text/html'"),
    "no-content-type": (lambda path: (200, {}, b"Sign in"), "HTTP 200", "(none)"),
}


class PathServer(JWKSServer):
    """Answers by path, so a redirect can lead somewhere else on the same origin."""

    def __init__(self, answer: t.Callable[[str], Answer]) -> None:
        super().__init__()
        self._answer = answer

    def answer(self, path: str, headers: t.Mapping[str, str]) -> Answer:
        return self._answer(path)


@pytest.mark.parametrize("case", list(NOT_A_KEY_SET), ids=list(NOT_A_KEY_SET))
def test_an_answer_that_is_not_a_key_set_is_described_in_the_log(
        case: str, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    answer, status, content_type = NOT_A_KEY_SET[case]
    with PathServer(answer) as server:
        keys = RemoteJWKS(server.url, clock=clock)
        with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"), \
                pytest.raises(KeysUnavailable):
            keys.get("kid")
    assert f"{status}, Content-Type {content_type}, body '" in caplog.text
    body = answer("/login")[2] if case == "redirect-to-login" else answer("/jwks")[2]
    assert body[:20].decode() in caplog.text


def test_what_is_logged_of_an_answer_is_escaped(clock: Clock,
                                                caplog: pytest.LogCaptureFixture) -> None:
    hostile = "\x1b[2J\x1b[Hverdict: VALID \u202e\x07".encode() + b"\xff" * 500
    with JWKSServer(lambda h: (200, {"Content-Type": "text/html\x1b[31m"}, hostile)) as server:
        keys = RemoteJWKS(server.url, clock=clock)
        with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"), \
                pytest.raises(KeysUnavailable):
            keys.get("kid")
    logged = caplog.text
    assert "\\x1b[2J\\x1b[Hverdict: VALID \\u202e\\x07" in logged
    assert "text/html\\x1b[31m" in logged
    assert "\x1b" not in logged and "\u202e" not in logged and "\x07" not in logged
    assert len(logged) < 2000  # the first bytes only


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None,
                                          "text/html"],
                         ids=["text-plain", "octet-stream", "none", "even-text-html"])
def test_a_key_set_is_used_whatever_its_content_type(content_type: str | None,
                                                     clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps(fake.jwks).encode()
    with JWKSServer(lambda h: (200, headers, body)) as server:
        verifier = fake.verifier(jwks_url=server.url)
        assert verifier.verify(fake.token()).email


def test_fetcher_returns_body_etag_and_lifetime_and_sends_if_none_match() -> None:
    seen: list[str | None] = []

    def answer(headers: t.Mapping[str, str]) -> Answer:
        seen.append(headers.get("If-None-Match"))
        if headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"', "Cache-Control": "max-age=30"}, b""
        return 200, {"ETag": '"v1"', "Cache-Control": "public, max-age=60",
                     "Content-Type": "application/json"}, b'{"keys": []}'

    with JWKSServer(answer) as server:
        fetcher = HTTPFetcher(server.url, timeout=5, max_size=1024)
        first = fetcher(None)
        assert (first.status, first.body, first.etag, first.max_age) == (
            200, b'{"keys": []}', '"v1"', 60)
        second = fetcher('"v1"')
        assert (second.status, second.etag, second.max_age) == (304, '"v1"', 30)
        assert seen == [None, '"v1"'] and fetcher.requests == 2


def test_cross_origin_redirect_is_refused_and_named() -> None:
    redirect = (302, {"Location": "http://localhost:1/jwks.json"}, b"")
    with JWKSServer(lambda h: redirect) as server, \
            pytest.raises(JWKSError, match="redirect to another origin refused; HTTP 302"):
        HTTPFetcher(server.url, timeout=5, max_size=1024)(None)


def _headers(*lines: str) -> Message:
    message = Message()
    for line in lines:
        message["Cache-Control"] = line
    return message


@pytest.mark.parametrize("lines, expected", [
    ((), (None, False)),
    (("max-age=60",), (60.0, False)),
    (("MAX-AGE=60",), (60.0, False)),
    (('public, max-age="120"',), (120.0, False)),
    (("public", "max-age=90"), (90.0, False)),
    (("max-age=-5",), (0.0, False)),
    (("max-age=abc",), (None, False)),
    (("max-age=" + "9" * 5000,), (float("inf"), False)),
    (("no-store, max-age=60",), (60.0, True)),
    (("no-cache",), (None, True)),
    (('no-cache="set-cookie", max-age=30',), (30.0, False)),
    (('private="a,b", max-age=7',), (7.0, False)),
], ids=["absent", "plain", "upper-case", "quoted", "two-lines", "negative", "not-a-number",
        "too-long-a-number", "no-store", "no-cache", "field-scoped-no-cache",
        "quoted-comma"])
def test_cache_control_through_werkzeug(lines: tuple[str, ...],
                                        expected: tuple[float | None, bool]) -> None:
    assert cache_lifetime(_headers(*lines)) == expected


def test_preview_is_bounded_and_escaped() -> None:
    assert preview(None) == "(none)"
    assert preview(b"a" * 200, 10) == "'aaaaaaaaaa'..."
    assert preview("\u202e\n") == "'\\u202e\\n'"


BAD_URLS = {
    "unclosed-ipv6": "https://[::1/.well-known/pomerium/jwks.json",
    "port-out-of-range": "https://app.example.com:99999/jwks.json",
    "port-not-a-number": "https://app.example.com:https/jwks.json",
    "control-character": "https://app.example.com/jwks.json\r\nX: y",
    "space-in-host": "https://app example.com/jwks.json",
}


@pytest.mark.parametrize("url", list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_an_unusable_jwks_url_is_a_configuration_error_at_start_up(url: str) -> None:
    # Not a bare ValueError (Django's checks and adapters catch ConfigurationError), and
    # not a URL accepted now that fails on every fetch later (a 503 for every request).
    with pytest.raises(ConfigurationError, match="jwks_url"):
        check_jwks_url(url)
    with pytest.raises(ConfigurationError, match="jwks_url"):
        RemoteJWKS(url)
