"""Pomerium identity for Flask: an extension, ``current_identity`` and decorators."""

from pomerium_wsgi.extras import missing_extra

try:  # first: without flask, say which extra to install rather than "No module named"
    import flask  # noqa: F401
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "flask", "flask", "flask_pomerium") from exc

from .decorators import (
    ViewRequirement,
    enforce,
    protect_blueprint,
    require_all_groups,
    require_claim,
    require_email,
    require_email_domain,
    require_group,
    require_identity,
    requires,
)
from .errors import (
    PomeriumForbidden,
    PomeriumHTTPException,
    PomeriumUnauthorized,
    PomeriumUnavailable,
)
from .extension import (
    Pomerium,
    PomeriumState,
    RequestState,
    current_identity,
    get_current_identity,
    get_state,
    get_verification_error,
)

__all__ = [
    "Pomerium",
    "PomeriumForbidden",
    "PomeriumHTTPException",
    "PomeriumState",
    "PomeriumUnauthorized",
    "PomeriumUnavailable",
    "RequestState",
    "ViewRequirement",
    "current_identity",
    "enforce",
    "get_current_identity",
    "get_state",
    "get_verification_error",
    "protect_blueprint",
    "require_all_groups",
    "require_claim",
    "require_email",
    "require_email_domain",
    "require_group",
    "require_identity",
    "requires",
]
