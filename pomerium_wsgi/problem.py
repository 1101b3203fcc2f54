"""Error answers: RFC 9457 problem details or plain text, chosen by ``Accept``.

Bodies carry a reason code and a fixed message, never the token. ``Cache-Control:
no-store`` keeps shared caches from storing an answer that depends on credentials.
"""

from __future__ import annotations

import json
import typing as t
from http import HTTPStatus

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

PROBLEM_JSON = "application/problem+json"


def wants_json(environ: WSGIEnvironment) -> bool:
    """True when the client's ``Accept`` prefers JSON over plain text."""
    header = environ.get("HTTP_ACCEPT")
    if not header or "json" not in header:
        return False
    accept = parse_accept_header(header, MIMEAccept)
    json_quality = max(accept[PROBLEM_JSON], accept["application/json"])
    # Ties go to JSON: "application/json, text/plain, */*" (axios, fetch wrappers) names
    # JSON explicitly and should get it.
    return json_quality > 0 and json_quality >= accept["text/plain"]


def problem(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: int,
    reason: str,
    detail: str,
    extra_headers: t.Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Answer *status* with a problem document (JSON or text) naming *reason*."""
    title = HTTPStatus(status).phrase
    if wants_json(environ):
        body = json.dumps(
            {"type": "about:blank", "title": title, "status": status,
             "detail": detail, "reason": reason},
            separators=(",", ":"),
        ).encode("utf-8")
        content_type = PROBLEM_JSON
    else:
        body = f"{status} {title}: {detail} (reason: {reason})\n".encode()
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
    start_response(f"{status} {title}", headers)
    return [body]
