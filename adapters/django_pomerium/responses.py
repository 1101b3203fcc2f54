"""Refusals (401, 503) as Django responses with the core's bodies.

The body is chosen exactly as the WSGI middleware chooses it (problem+json for API clients,
HTML for browsers, text otherwise), because it is built by the same function,
:func:`pomerium_wsgi.problem.render`, over ``request.META``. It carries the reason code
and a fixed message, never the token, and ``Cache-Control: no-store``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from pomerium_wsgi import MissingToken, VerificationError
from pomerium_wsgi.problem import render


def refusal(request: HttpRequest, error: VerificationError | None) -> HttpResponse:
    """The answer to a request without a verified identity: 401, or 503 when the signing
    keys cannot be had (*error* None counts as a missing token)."""
    if error is None:
        error = MissingToken()
    extra = [("Retry-After", "5")] if error.status == 503 else []
    _, headers, body = render(request.META, error.status, error.reason, error.message, extra)
    response = HttpResponse(body, status=error.status)
    for name, value in headers:
        if name.lower() != "content-length":  # Django's handlers set it from the body
            response[name] = value
    return response
