"""FastAPI dependencies: the verified identity, and authorization requirements.

The middleware (installed by :class:`~fastapi_pomerium.Pomerium`) verifies the token and
leaves the outcome in the request's scope; these dependencies read it, so nothing is
verified twice and FastAPI's per-request dependency cache makes repeats free::

    @app.get("/me")
    async def me(identity: Identity = Depends(current_identity)): ...

    @app.get("/admin", dependencies=[Depends(require_group("admins"))])
    async def admin(): ...

    router = APIRouter(dependencies=[Depends(require_email_domain("example.com"))])

:data:`current_identity` is a FastAPI security scheme (an API key in the
``X-Pomerium-Jwt-Assertion`` header, scheme name ``Pomerium``), as FastAPI's own
``APIKeyHeader`` is: every route that depends on it, directly or through a requirement,
shows the scheme in the OpenAPI document. Without an identity it answers 401 (503 when
the keys are unavailable) with ``WWW-Authenticate``; a failed requirement answers 403.
Both are :class:`PomeriumHTTPException`, rendered as the core's problem documents by the
handler :class:`~fastapi_pomerium.Pomerium` installs. On a WebSocket route the same
refusals close the handshake with code 1008.

This module does not use ``from __future__ import annotations``: FastAPI reads the
annotations of a callable instance's ``__call__`` without the module's globals, so they
must be real objects, not strings.
"""

import typing as t

from fastapi import Depends
from fastapi.openapi.models import APIKey, APIKeyIn
from fastapi.security.base import SecurityBase
from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import HTTPConnection

from pomerium_wsgi import (
    IDENTITY_KEY,
    Identity,
    MissingToken,
    Requirement,
    authz,
    get_error,
    get_identity,
)
from pomerium_wsgi.asgi import WS_CLOSE_POLICY_VIOLATION
from pomerium_wsgi.signals import access_denied, send_safely

#: The request header Pomerium puts the identity token in.
DEFAULT_HEADER = "X-Pomerium-Jwt-Assertion"
#: The OpenAPI security scheme's name: fixed, so that every route names the same scheme
#: (two schemes of one name would overwrite each other in the document without a word).
SCHEME_NAME = "Pomerium"
SCHEME_DESCRIPTION = (
    "Pomerium's signed identity JWT. Pomerium adds it to every request it forwards; "
    "the app verifies it."
)


class PomeriumHTTPException(HTTPException):
    """A refusal: 401 / 503 without a verified identity, 403 for a failed requirement.

    A Starlette ``HTTPException``, so without :class:`~fastapi_pomerium.Pomerium`'s handler
    it is still an answer with the right status and headers (FastAPI's ``{"detail": ...}``
    body); with it, the answer is the core's problem document, like the middleware's.
    ``reason`` is the core's reason code (``"missing"``, ``"expired"``, ``"forbidden"``,
    ...); ``detail`` never contains the token.
    """

    def __init__(self, status_code: int, reason: str, detail: str,
                 headers: t.Mapping[str, str] | None = None) -> None:
        super().__init__(status_code, detail, dict(headers or {}))
        self.reason = reason


def _refuse(connection: HTTPConnection, status: int, reason: str, detail: str,
            headers: t.Mapping[str, str]) -> t.NoReturn:
    if connection.scope["type"] == "websocket":
        raise WebSocketException(WS_CLOSE_POLICY_VIOLATION, reason)
    raise PomeriumHTTPException(status, reason, detail, headers)


class PomeriumIdentity(SecurityBase):
    """A dependency returning the request's verified :class:`~pomerium_wsgi.Identity`.

    Also the OpenAPI security scheme of the token header. With ``auto_error=False`` it
    returns None for an anonymous request (optional mode, exempt path) instead of
    refusing it. Use the module's :data:`current_identity` and :data:`optional_identity`.
    """

    def __init__(self, *, auto_error: bool = True) -> None:
        self.model = APIKey(
            **{"in": APIKeyIn.header},  # type: ignore[arg-type]  # "in" is a keyword
            name=DEFAULT_HEADER,
            description=SCHEME_DESCRIPTION,
        )
        self.scheme_name = SCHEME_NAME
        self.auto_error = auto_error

    async def __call__(self, connection: HTTPConnection) -> Identity | None:
        scope = connection.scope
        identity = get_identity(scope)
        if identity is not None or not self.auto_error:
            return identity
        if IDENTITY_KEY not in scope:
            # Nothing verifies this app's requests: fail closed, and loudly.
            raise RuntimeError(
                "a Pomerium dependency guards this route, but nothing verifies its "
                "requests: call fastapi_pomerium.Pomerium(app) or add "
                "pomerium_wsgi.asgi.PomeriumMiddleware"
            )
        error = get_error(scope) or MissingToken()
        headers = {"Cache-Control": "no-store"}
        if error.status == 401:
            headers["WWW-Authenticate"] = 'Pomerium realm="pomerium"'
        else:
            headers["Retry-After"] = "5"
        _refuse(connection, error.status, error.reason, error.message, headers)

    def __repr__(self) -> str:
        return "current_identity" if self.auto_error else "optional_identity"


#: ``Depends(current_identity)``: the verified identity; 401 (503) without one.
current_identity = PomeriumIdentity()
#: ``Depends(optional_identity)``: the verified identity, or None for an anonymous request.
optional_identity = PomeriumIdentity(auto_error=False)

#: ``identity: CurrentIdentity`` in a signature, the same as ``Depends(current_identity)``.
CurrentIdentity = t.Annotated[Identity, Depends(current_identity)]
#: ``identity: OptionalIdentity``, the same as ``Depends(optional_identity)``.
OptionalIdentity = t.Annotated[Identity | None, Depends(optional_identity)]


class RequirementDependency:
    """A dependency that checks a core :class:`~pomerium_wsgi.Requirement`.

    Returns the identity when it meets the requirement; without an identity, refuses as
    :data:`current_identity` does (its sub-dependency, so the route shows the security
    scheme); otherwise sends ``access_denied`` (sender: the app) and answers 403. Combines
    with ``&`` and ``|``, with other dependencies of its kind and with core requirements.
    """

    def __init__(self, requirement: Requirement) -> None:
        if isinstance(requirement, RequirementDependency):
            requirement = requirement.requirement
        if not isinstance(requirement, Requirement):
            raise TypeError("requires() needs a Requirement, e.g. require_group('admins')")
        if isinstance(requirement, authz.Delegating):
            requirement = requirement.requirement
        #: The core requirement checked.
        self.requirement = requirement

    async def __call__(self, connection: HTTPConnection, identity: CurrentIdentity) -> Identity:
        if not self.requirement(identity):
            send_safely(access_denied, connection.scope.get("app"), identity=identity,
                        requirement=self.requirement, environ=connection.scope)
            _refuse(connection, 403, "forbidden", f"access requires {self.requirement}",
                    {"Cache-Control": "no-store"})
        return identity

    def check(self, identity: Identity) -> bool:
        """True if *identity* meets the requirement."""
        return self.requirement(identity)

    def __and__(self, other: "RequirementDependency | Requirement") -> "RequirementDependency":
        return RequirementDependency(self.requirement & _requirement(other))

    def __rand__(self, other: Requirement) -> "RequirementDependency":
        return RequirementDependency(_requirement(other) & self.requirement)

    def __or__(self, other: "RequirementDependency | Requirement") -> "RequirementDependency":
        return RequirementDependency(self.requirement | _requirement(other))

    def __ror__(self, other: Requirement) -> "RequirementDependency":
        return RequirementDependency(_requirement(other) | self.requirement)

    def __str__(self) -> str:
        return str(self.requirement)

    def __repr__(self) -> str:
        return f"<RequirementDependency {self.requirement}>"


def _requirement(value: object) -> Requirement:
    if isinstance(value, RequirementDependency):
        return value.requirement
    if isinstance(value, Requirement):
        return value
    raise TypeError("requirements combine only with requirements")


def requires(requirement: Requirement) -> RequirementDependency:
    """A dependency for any core requirement: ``Depends(requires(a | b))``."""
    return RequirementDependency(requirement)


def require_group(*groups: str) -> RequirementDependency:
    """Membership of *any* of the groups."""
    return RequirementDependency(authz.require_group(*groups))


def require_all_groups(*groups: str) -> RequirementDependency:
    """Membership of *every* one of the groups."""
    return RequirementDependency(authz.require_all_groups(*groups))


def require_email(*emails: str) -> RequirementDependency:
    """One of the email addresses (compared case-insensitively)."""
    return RequirementDependency(authz.require_email(*emails))


def require_email_domain(*domains: str) -> RequirementDependency:
    """An email address at exactly one of the domains."""
    return RequirementDependency(authz.require_email_domain(*domains))


def require_claim(name: str, *values_or_predicate: t.Any) -> RequirementDependency:
    """Claim *name* equal to one of the values, satisfying a predicate, or truthy."""
    return RequirementDependency(authz.require_claim(name, *values_or_predicate))
