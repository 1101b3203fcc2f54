"""The exception hierarchy.

Every way a token can be refused is a :class:`VerificationError` subclass that carries a
stable, machine-readable ``reason`` code and the HTTP ``status`` to answer with, so the
middleware, the adapters and user code can handle "any bad token" with one ``except``
clause and still tell the cases apart.

Messages are written by this library from fixed text and never contain the token or any
part of it: an exception's ``str()`` is safe to log and safe to send to the client.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:  # pragma: no cover
    from .identity import Identity


class PomeriumError(Exception):
    """Base class of every exception this library raises on purpose."""


class ConfigurationError(PomeriumError, ValueError):
    """A setting is wrong. Raised when an object is built, never per request."""


class VerificationError(PomeriumError):
    """The request's identity token was refused.

    :param message: why, in words safe to show the client (never the token).
    :param detail: optional extra context (kept out of ``str()`` so it is not sent
        unless a caller chooses to).
    """

    #: A short, stable code naming the failed check; sent to the client.
    reason: t.ClassVar[str] = "invalid"
    #: The HTTP status a request carrying such a token is answered with.
    status: t.ClassVar[int] = 401

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        self.message = message or self.default_message
        self.detail = detail
        super().__init__(self.message)

    default_message: t.ClassVar[str] = "the identity token is not valid"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class MissingToken(VerificationError):
    """The request carries no identity token."""

    reason = "missing"
    default_message = "no identity token in the request"


class MalformedToken(VerificationError):
    """The token is not a well-formed compact JWS with a JSON header and payload."""

    reason = "malformed"
    default_message = "the identity token is malformed"


class InvalidSignature(VerificationError):
    """The signature does not verify, or the algorithm is not allowed for the key."""

    reason = "signature"
    default_message = "the identity token's signature is not valid"


class UnknownKey(VerificationError):
    """No published key has the token's ``kid``, even after a refresh."""

    reason = "unknown_key"
    default_message = "the identity token was signed by an unknown key"


class TokenExpired(VerificationError):
    """``exp`` is in the past (beyond the leeway)."""

    reason = "expired"
    default_message = "the identity token has expired"


class TokenNotYetValid(VerificationError):
    """``iat`` or ``nbf`` is in the future (beyond the leeway)."""

    reason = "not_yet_valid"
    default_message = "the identity token is not valid yet"


class InvalidAudience(VerificationError):
    """``aud`` does not name this application."""

    reason = "audience"
    default_message = "the identity token was issued for another application"


class InvalidIssuer(VerificationError):
    """``iss`` is not one of the expected issuers."""

    reason = "issuer"
    default_message = "the identity token has an unexpected issuer"


class InvalidClaims(VerificationError):
    """A claim is missing or has the wrong type or range."""

    reason = "claims"
    default_message = "the identity token's claims are not valid"


class KeysUnavailable(VerificationError):
    """The signing keys could not be obtained (JWKS endpoint down, bad answer).

    Answered with 503: the token may well be valid; the server cannot tell right now.
    """

    reason = "keys_unavailable"
    status = 503
    default_message = "the signing keys are unavailable"


class FetchRequired(KeysUnavailable):
    """The keys must be fetched (or another thread's fetch awaited) to go on.

    Raised only inside :func:`pomerium_wsgi.keys.no_fetch`, where blocking is not allowed
    (an event loop's thread): the caller runs the verification again in a worker thread.
    Outside that block, nothing raises it.
    """


class AccessDenied(PomeriumError):
    """A verified identity does not meet an authorization requirement (HTTP 403)."""

    status: t.ClassVar[int] = 403
    reason: t.ClassVar[str] = "forbidden"

    def __init__(self, requirement: object, identity: Identity | None) -> None:
        self.requirement = requirement
        self.identity = identity
        super().__init__(f"access requires {requirement}")


#: Every verification error class, by reason code.
REASONS: dict[str, type[VerificationError]] = {
    cls.reason: cls
    for cls in (
        MissingToken,
        MalformedToken,
        InvalidSignature,
        UnknownKey,
        TokenExpired,
        TokenNotYetValid,
        InvalidAudience,
        InvalidIssuer,
        InvalidClaims,
        KeysUnavailable,
    )
}
