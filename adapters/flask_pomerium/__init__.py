"""Pomerium identity for Flask: an extension, ``current_identity`` and decorators."""

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
