"""How a request the plugin refuses is answered through Bottle: 401, 403 or 503.

A refusal is raised as a Bottle response, so the app's ``@app.error(401)`` / ``(403)`` /
``(503)`` handlers apply (they receive a :class:`PomeriumHTTPError` saying why); without
a handler the answer is the core's refusal (an HTML page for browsers, RFC 9457 JSON for
API clients, plain text otherwise), which never contains the token. Also here: reading
the current request's identity, and :func:`enforce`, which the decorators use.
"""

from __future__ import annotations

import typing as t

import bottle

from pomerium_wsgi import (
    AccessDenied,
    Identity,
    MissingToken,
    Requirement,
    get_error,
    get_identity,
)
from pomerium_wsgi.problem import render
from pomerium_wsgi.signals import access_denied, send_safely


class PomeriumHTTPError(bottle.HTTPError):  # type: ignore[misc]  # bottle is untyped
    """The error raised for a refused request when the app has a handler for its status.

    An ``@app.error(401)`` handler receives it: ``error.reason`` is the core's reason code
    (``"missing"``, ``"expired"``, ``"forbidden"``, ...), ``error.exception`` the
    :class:`~pomerium_wsgi.VerificationError` or :class:`~pomerium_wsgi.AccessDenied`,
    and ``error.body`` a message safe to show (it never contains the token).
    """

    def __init__(self, status: int, reason: str, detail: str, exception: Exception,
                 headers: t.Iterable[tuple[str, str]]) -> None:
        super().__init__(status, detail, exception)
        self.reason = reason
        for name, value in headers:
            self.add_header(name, value)


def current_identity() -> Identity | None:
    """The verified identity of the current Bottle request, or None.

    None means anonymous: no plugin verified this request (the route skips it), or the
    app runs in optional mode and the token was missing or refused, or no request was
    ever bound to this thread. Call it while handling a request: like ``bottle.request``
    itself, it reads the request most recently bound to the current thread.
    """
    try:
        environ = bottle.request.environ
    except RuntimeError:  # no request bound to this thread
        return None
    return get_identity(environ)


def refuse(environ: dict[str, t.Any], status: int, reason: str, detail: str,
            exception: Exception, extra: t.Sequence[tuple[str, str]] = ()) -> t.NoReturn:
    """Raise the Bottle response for a refused request.

    If the app dispatching the request has an error handler for *status*, raise a
    :class:`PomeriumHTTPError` (an ``HTTPError``) so Bottle runs that handler. Otherwise
    raise a plain ``HTTPResponse`` with the core's problem document: Bottle's default
    error page is HTML and would not honour ``Accept``.
    """
    _status_line, captured, body = render(environ, status, reason, detail, extra)
    dispatcher = environ.get("bottle.app")
    if isinstance(dispatcher, bottle.Bottle) and status in dispatcher.error_handler:
        # Keep the caching and authentication headers; the handler supplies the body.
        kept = [(k, v) for k, v in captured if k.lower() not in ("content-type", "content-length")]
        raise PomeriumHTTPError(status, reason, detail, exception, kept)
    raise bottle.HTTPResponse(body, status, captured)


def refuse_unauthenticated(environ: dict[str, t.Any]) -> t.NoReturn:
    """401 (503 when the keys are unavailable) for a request without a verified identity."""
    error = get_error(environ) or MissingToken()
    extra = [("Retry-After", "5")] if error.status == 503 else []
    refuse(environ, error.status, error.reason, error.message, error, extra)


def refuse_forbidden(environ: dict[str, t.Any], identity: Identity, requirement: Requirement,
                     sender: object) -> t.NoReturn:
    """Send ``access_denied`` (with *sender*) and answer 403."""
    send_safely(access_denied, sender, identity=identity, requirement=requirement,
                environ=environ)
    denied = AccessDenied(requirement, identity)
    refuse(environ, denied.status, denied.reason, str(denied), denied)


def enforce(requirement: Requirement, sender: object) -> Identity:
    """Check the current request against *requirement*; returns the identity or raises."""
    environ = bottle.request.environ
    identity = get_identity(environ)
    if identity is None:
        refuse_unauthenticated(environ)
    if not requirement(identity):
        refuse_forbidden(environ, identity, requirement, sender)
    return identity
