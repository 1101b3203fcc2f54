"""The HTTP exceptions a refused request raises, so Flask's own error handlers apply.

A refusal is a werkzeug :class:`~werkzeug.exceptions.HTTPException` subclass
(:class:`PomeriumUnauthorized` is an ``Unauthorized``, :class:`PomeriumForbidden` a
``Forbidden``), raised from the request hook or a decorator. Flask therefore dispatches it
to ``@app.errorhandler(401)`` / ``(403)`` (or a blueprint's, or a handler for the class)
like any other HTTP error, and the handler can read why from the exception:
``error.reason`` (the core's stable reason code), ``error.description`` (a message safe to
show), and for a 403 ``error.requirement`` and ``error.identity``.

Without a handler, the default answer is the core's refusal (as in every adapter): an
HTML page for browsers, an RFC 9457 problem document for API clients, plain text
otherwise; each names the reason and what to do, carries ``Cache-Control: no-store`` (the
answer depends on credentials) and never contains the token.
"""

from __future__ import annotations

import typing as t

from werkzeug.exceptions import Forbidden, HTTPException, ServiceUnavailable, Unauthorized

from pomerium_wsgi import AccessDenied, Identity, MissingToken, Requirement, VerificationError
from pomerium_wsgi.problem import render

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment

#: Seconds a client is asked to wait before retrying when the signing keys are unavailable.
RETRY_AFTER = "5"


class PomeriumHTTPException(HTTPException):
    """Base of the refusals: a reason code and a JSON-or-HTML default body.

    :param reason: the reason code (``"missing"``, ``"expired"``, ``"forbidden"``, ...).
    :param description: why, in words safe to show the client.
    :param error: the core exception behind the refusal.
    """

    #: The core's stable, machine-readable reason code.
    reason: str
    #: The :class:`~pomerium_wsgi.VerificationError` or :class:`~pomerium_wsgi.AccessDenied`.
    error: Exception

    def __init__(self, reason: str, description: str, error: Exception) -> None:
        super().__init__(description)
        self.reason = reason
        self.error = error

    def extra_headers(self) -> list[tuple[str, str]]:
        """Headers specific to the status (``Retry-After`` for 503); none by default."""
        return []

    def _render(self, environ: WSGIEnvironment | None) -> tuple[bytes, list[tuple[str, str]]]:
        """The core's refusal (body and headers), so every adapter answers alike.

        Rendered once per request: werkzeug asks for the headers and then the body, and
        this is the path every anonymous request takes, so the second ask reuses the first
        answer (kept with the environ it was rendered for).
        """
        cached = self.__dict__.get("_rendered")
        if cached is not None and cached[0] is environ:
            return t.cast(tuple[bytes, list[tuple[str, str]]], cached[1])
        assert self.code is not None
        _status, headers, body = render({} if environ is None else environ, self.code,
                                        self.reason, self.description or "",
                                        self.extra_headers())
        # werkzeug's Response computes the length itself.
        rendered = body, [(k, v) for k, v in headers if k.lower() != "content-length"]
        self._rendered = (environ, rendered)
        return rendered

    def get_body(self, environ: WSGIEnvironment | None = None,
                 scope: dict[str, t.Any] | None = None) -> str:
        return self._render(environ)[0].decode("utf-8")

    def get_headers(self, environ: WSGIEnvironment | None = None,
                    scope: dict[str, t.Any] | None = None) -> list[tuple[str, str]]:
        return self._render(environ)[1]


class PomeriumUnauthorized(PomeriumHTTPException, Unauthorized):
    """401: the request has no verified identity (token missing or refused)."""

    error: VerificationError

    def __init__(self, error: VerificationError | None = None) -> None:
        error = error or MissingToken()
        super().__init__(error.reason, error.message, error)


class PomeriumUnavailable(PomeriumHTTPException, ServiceUnavailable):
    """503: the signing keys could not be fetched, so no token can be checked right now."""

    error: VerificationError

    def __init__(self, error: VerificationError) -> None:
        super().__init__(error.reason, error.message, error)

    def extra_headers(self) -> list[tuple[str, str]]:
        return [("Retry-After", RETRY_AFTER)]


class PomeriumForbidden(PomeriumHTTPException, Forbidden):
    """403: the verified identity does not meet the view's requirement."""

    error: AccessDenied

    def __init__(self, requirement: Requirement, identity: Identity) -> None:
        denied = AccessDenied(requirement, identity)
        super().__init__(denied.reason, str(denied), denied)
        #: The requirement that failed (readable with ``str()``).
        self.requirement = requirement
        #: The identity that failed it.
        self.identity = identity


def refusal_for(error: VerificationError | None) -> PomeriumHTTPException:
    """The exception answering a request without identity: 503 if the keys are
    unavailable (the token may be fine), else 401."""
    if error is not None and error.status == 503:
        return PomeriumUnavailable(error)
    return PomeriumUnauthorized(error)
