"""Refusal answers (401, 403, 503): one implementation for the middleware and every adapter.

A refused request gets the same answer whichever framework refuses it: an HTML page for
browsers, an RFC 9457 problem document (``application/problem+json``) for API clients,
plain text otherwise (curl, scripts, logs). Each says what happened (a fixed message and
the reason code) and what to do about it, carries ``Cache-Control: no-store`` and
``Vary: Accept``, and never contains the token or anything the token carries.

The format is chosen from ``Accept``, which arrives *before* authentication: anyone can
send one, of any size. So the header is read once per request, by a small linear scan,
and only up to :data:`MAX_ACCEPT_LENGTH` characters: a longer header is not parsed at
all and gets plain text, which every client can read. Refusing a request therefore costs
the same whatever the size of ``Accept``.
"""

from __future__ import annotations

import json
import math
import typing as t
from html import escape
from http import HTTPStatus

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

PROBLEM_JSON = "application/problem+json"

#: An ``Accept`` header longer than this (in characters) is not parsed: the answer is
#: plain text. Browsers send about 80-200 characters; the bound keeps the scan of a
#: hostile header (up to the server's header limit, often 8 KB to 1 MB) from costing more
#: than the refusal itself.
MAX_ACCEPT_LENGTH = 512

#: The three answer formats, as :func:`negotiate` names them.
JSON = "json"
HTML = "html"
TEXT = "text"

#: environ key caching the format chosen for the request's ``Accept`` (with the header
#: it was chosen for, so a changed header is read again).
FORMAT_KEY = "pomerium.refusal_format"

# Media types that name one of the formats explicitly. A wildcard (``*/*``, ``text/*``)
# names none: a client that accepts anything gets plain text.
_NAMED: dict[str, str] = {
    PROBLEM_JSON: JSON,
    "application/json": JSON,
    "text/html": HTML,
    "application/xhtml+xml": HTML,
    "text/plain": TEXT,
}
# Equal qualities: JSON first ("application/json, text/plain, */*" is what axios and many
# fetch wrappers send), then HTML.
_TIE_ORDER = {JSON: 2, HTML: 1, TEXT: 0}

#: What a person can do about each refusal, shown in every format.
ADVICE: dict[int, str] = {
    401: (
        "This application accepts only requests that reach it through Pomerium, which "
        "signs you in and adds a signed identity token to every request it forwards. "
        "Open the application at its Pomerium address and sign in there. If you did, "
        "the application's administrator can check the Pomerium route to this "
        "application; the reason code tells them what was wrong."
    ),
    403: (
        "You are signed in, but your account does not have access to this page. If you "
        "need it, ask the application's administrator."
    ),
    503: (
        "The application cannot check identities just now: Pomerium's signing keys could "
        "not be fetched. Try again in a few moments; if this goes on, the application's "
        "administrator can check that the application reaches its JWKS URL."
    ),
}


def _quality(params: str) -> float:
    """The ``q`` parameter of one media range (1 when absent, 0 when unreadable)."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if not math.isnan(quality) and 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def preferred_format(accept: str | None) -> str:
    """The format (:data:`JSON`, :data:`HTML` or :data:`TEXT`) that *accept* prefers.

    Only media types named explicitly count (wildcards name none); the highest quality
    wins, ties going to JSON, then HTML. No header, nothing named, or a header longer than
    :data:`MAX_ACCEPT_LENGTH`: plain text. Linear in the (bounded) header length.
    """
    if not accept or len(accept) > MAX_ACCEPT_LENGTH:
        return TEXT
    named: dict[str, float] = {}
    for media_range in accept.split(","):
        media, _, params = media_range.partition(";")
        kind = _NAMED.get(media.strip().lower())
        if kind is not None:
            named[kind] = max(named.get(kind, 0.0), _quality(params))
    wanted = [(quality, _TIE_ORDER[kind], kind) for kind, quality in named.items()
              if quality > 0]
    return max(wanted)[2] if wanted else TEXT


def negotiate(environ: WSGIEnvironment) -> str:
    """The format to refuse the request in, chosen once per request (see :data:`FORMAT_KEY`)."""
    accept = environ.get("HTTP_ACCEPT")
    cached = environ.get(FORMAT_KEY)
    if isinstance(cached, tuple) and len(cached) == 2 and cached[0] is accept:
        return t.cast(str, cached[1])
    chosen = preferred_format(accept if isinstance(accept, str) else None)
    environ[FORMAT_KEY] = (accept, chosen)
    return chosen


def wants_json(environ: WSGIEnvironment) -> bool:
    """True when the client's ``Accept`` prefers JSON (see :func:`negotiate`)."""
    return negotiate(environ) == JSON


def render(
    environ: WSGIEnvironment,
    status: int,
    reason: str,
    detail: str,
    extra_headers: t.Iterable[tuple[str, str]] = (),
) -> tuple[str, list[tuple[str, str]], bytes]:
    """The refusal for *status*: ``(status line, headers, body)`` in the negotiated format.

    *reason* is the reason code, *detail* a fixed message safe to show (never anything
    from the token). Adapters that answer through their framework's own response objects
    use this and keep the headers.
    """
    return render_as(negotiate(environ), status, reason, detail, extra_headers)


def render_as(
    chosen: str,
    status: int,
    reason: str,
    detail: str,
    extra_headers: t.Iterable[tuple[str, str]] = (),
) -> tuple[str, list[tuple[str, str]], bytes]:
    """:func:`render` for a format already chosen (:data:`JSON`, :data:`HTML` or
    :data:`TEXT`), for servers without a WSGI environ: an ASGI app passes
    ``preferred_format(accept)``, with *accept* the decoded ``Accept`` header or None."""
    title = HTTPStatus(status).phrase
    advice = ADVICE.get(status, "")
    if chosen == JSON:
        document: dict[str, t.Any] = {"type": "about:blank", "title": title,
                                      "status": status, "detail": detail, "reason": reason}
        if advice:
            document["hint"] = advice
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        content_type = PROBLEM_JSON
    elif chosen == HTML:
        body = (
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{status} {escape(title)}</title>\n</head>\n<body>\n"
            f"<h1>{escape(title)}</h1>\n<p>{escape(detail)}.</p>\n"
            + (f"<p>{escape(advice)}</p>\n" if advice else "")
            + f"<p>Reason: <code>{escape(reason)}</code></p>\n</body>\n</html>\n"
        ).encode("utf-8")
        content_type = "text/html; charset=utf-8"
    else:
        text = f"{status} {title}: {detail} (reason: {reason})\n"
        if advice:
            text += f"\n{advice}\n"
        body = text.encode("utf-8")
        content_type = "text/plain; charset=utf-8"
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("Vary", "Accept"),
        *extra_headers,
    ]
    if status == 401:
        headers.append(("WWW-Authenticate", 'Pomerium realm="pomerium"'))
    return f"{status} {title}", headers, body


def problem(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: int,
    reason: str,
    detail: str,
    extra_headers: t.Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Answer *status* as a WSGI app would: see :func:`render`."""
    status_line, headers, body = render(environ, status, reason, detail, extra_headers)
    start_response(status_line, headers)
    return [body]
