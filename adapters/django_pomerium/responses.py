"""Refusals (401, 503) as Django responses with the core's bodies.

The body is chosen exactly as the WSGI middleware chooses it (problem+json for API clients,
the other formats by ``Accept``), because it is built by the same function,
:func:`pomerium_wsgi.problem.problem`, over ``request.META``. It carries the reason code
and a fixed message, never the token, and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import typing as t

from django.http import HttpRequest, HttpResponse

from pomerium_wsgi import MissingToken, VerificationError
from pomerium_wsgi.problem import problem


def refusal(request: HttpRequest, error: VerificationError | None) -> HttpResponse:
    """The answer to a request without a verified identity: 401, or 503 when the signing
    keys cannot be had (*error* None counts as a missing token)."""
    if error is None:
        error = MissingToken()
    extra = [("Retry-After", "5")] if error.status == 503 else []
    captured: list[t.Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
                       ) -> t.Callable[[bytes], object]:
        captured[:] = [status, headers]
        return lambda data: None  # pragma: no cover - the body is returned, not written

    body = b"".join(problem(request.META, start_response, error.status, error.reason,
                            error.message, extra))
    status, headers = captured
    response = HttpResponse(body, status=int(status.split(" ", 1)[0]))
    for name, value in headers:
        if name.lower() != "content-length":  # Django's handlers set it from the body
            response[name] = value
    return response
