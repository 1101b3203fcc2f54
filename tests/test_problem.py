"""problem: the refusal answer every adapter shares, and its bounded reading of ``Accept``."""

from __future__ import annotations

import json
import typing as t
from html import escape

import pytest

from pomerium_wsgi import PomeriumMiddleware, problem
from pomerium_wsgi.problem import (
    ADVICE,
    HTML,
    JSON,
    MAX_ACCEPT_LENGTH,
    TEXT,
    negotiate,
    preferred_format,
    render,
)
from pomerium_wsgi.testing import FakePomerium

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"

FORMAT_CASES = {
    "no-accept": (None, TEXT),
    "empty": ("", TEXT),
    "any": ("*/*", TEXT),
    "text-wildcard": ("text/*", TEXT),
    "browser": (BROWSER, HTML),
    "xhtml-only": ("application/xhtml+xml", HTML),
    "json": ("application/json", JSON),
    "problem-json": ("application/problem+json", JSON),
    "axios-default": ("application/json, text/plain, */*", JSON),
    "json-beats-html-on-a-tie": ("text/html, application/json", JSON),
    "html-preferred": ("text/html, application/json;q=0.5", HTML),
    "text-preferred": ("text/plain, application/json;q=0.5", TEXT),
    "json-refused": ("application/json;q=0", TEXT),
    "case-and-spaces": ("  Application/JSON ; Q=0.7 ", JSON),
    "unreadable-quality": ("application/json;q=high", TEXT),
    "nan-quality": ("application/json;q=nan", TEXT),
    "quality-above-one": ("application/json;q=2", TEXT),
    "image-only": ("image/png", TEXT),
    "at-the-bound": ("application/json," + " " * (MAX_ACCEPT_LENGTH - 17), JSON),
    "over-the-bound": ("application/json," + " " * (MAX_ACCEPT_LENGTH - 16), TEXT),
}


@pytest.mark.parametrize(("accept", "expected"), list(FORMAT_CASES.values()),
                         ids=list(FORMAT_CASES))
def test_preferred_format(accept: str | None, expected: str) -> None:
    assert preferred_format(accept) == expected


def test_a_huge_accept_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 200 KB header gets plain text without a single media range being looked at."""
    calls: list[str] = []
    real = problem._quality
    monkeypatch.setattr(problem, "_quality", lambda params: calls.append(params) or real(params))
    huge = "application/json, " * (200_000 // 18)
    assert preferred_format(huge) == TEXT and calls == []
    assert preferred_format("application/json") == JSON and calls == [""]


def test_the_format_is_chosen_once_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []
    real = problem.preferred_format
    monkeypatch.setattr(problem, "preferred_format",
                        lambda accept: calls.append(accept) or real(accept))
    environ: dict[str, t.Any] = {"HTTP_ACCEPT": "application/json"}
    for _ in range(4):
        assert negotiate(environ) == JSON
        render(environ, 401, "missing", "no identity token in the request")
    assert calls == ["application/json"]
    environ["HTTP_ACCEPT"] = BROWSER  # a changed header is read again
    assert negotiate(environ) == HTML and calls == ["application/json", BROWSER]


@pytest.mark.parametrize("accept", [None, "*/*", BROWSER, "application/json",
                                    "application/json, " * 11_000],
                         ids=["none", "any", "browser", "json", "200kb-json"])
def test_middleware_refusal_reads_accept_once_and_boundedly(
    accept: str | None, pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real = problem._quality
    monkeypatch.setattr(problem, "_quality", lambda params: parsed.append(params) or real(params))
    app = PomeriumMiddleware(lambda environ, start_response: [], pomerium.verifier())
    environ: dict[str, t.Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}
    if accept is not None:
        environ["HTTP_ACCEPT"] = accept
    statuses: list[str] = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses == ["401 Unauthorized"] and b"missing" in body
    # At most one quality per media range of a header within the bound; none beyond it.
    if accept is not None and len(accept) > MAX_ACCEPT_LENGTH:
        assert parsed == []
    else:
        assert len(parsed) <= (accept or "").count(",") + 1


@pytest.mark.parametrize("status", [401, 403, 503], ids=["401", "403", "503"])
def test_every_format_says_what_happened_and_what_to_do(status: int) -> None:
    detail = "the identity token has expired" if status != 403 else "access requires X"
    for accept, content_type in [(BROWSER, "text/html; charset=utf-8"),
                                 ("application/json", "application/problem+json"),
                                 ("*/*", "text/plain; charset=utf-8")]:
        status_line, headers, body = render({"HTTP_ACCEPT": accept}, status, "expired", detail)
        header_map = dict(headers)
        assert status_line.startswith(str(status))
        assert header_map["Content-Type"] == content_type
        assert header_map["Cache-Control"] == "no-store" and header_map["Vary"] == "Accept"
        assert header_map["Content-Length"] == str(len(body))
        assert ("WWW-Authenticate" in header_map) is (status == 401)
        text = body.decode()
        if content_type == "application/problem+json":
            document = json.loads(text)
            assert document["hint"] == ADVICE[status] and document["detail"] == detail
        else:
            shown = escape(ADVICE[status]) if content_type.startswith("text/html") \
                else ADVICE[status]
            assert shown in text
            assert detail in text and "expired" in text


def test_the_401_advice_names_pomerium_and_the_administrator() -> None:
    advice = ADVICE[401]
    assert "through Pomerium" in advice and "administrator" in advice and "route" in advice


def test_html_escapes_the_detail() -> None:
    _status, _headers, body = render({"HTTP_ACCEPT": "text/html"}, 403, "forbidden",
                                     "access requires the group '<script>'")
    assert b"<script>" not in body and b"&lt;script&gt;" in body


def test_render_as_matches_render_for_servers_without_an_environ() -> None:
    for accept in (BROWSER, "application/json", "*/*", None):
        environ = {} if accept is None else {"HTTP_ACCEPT": accept}
        assert problem.render_as(preferred_format(accept), 401, "missing", "no token") \
            == render(environ, 401, "missing", "no token")
