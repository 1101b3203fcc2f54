"""Verify Pomerium's identity JWT (``X-Pomerium-Jwt-Assertion``) in any WSGI app."""

from .authz import (
    Requirement,
    protect,
    require_all_groups,
    require_claim,
    require_email,
    require_email_domain,
    require_group,
    require_identity,
)
from .errors import (
    AccessDenied,
    ConfigurationError,
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    InvalidSignature,
    KeysUnavailable,
    MalformedToken,
    MissingToken,
    PomeriumError,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    VerificationError,
)
from .identity import Identity
from .keys import RemoteJWKS, StaticKeys
from .middleware import (
    ERROR_KEY,
    IDENTITY_KEY,
    PomeriumMiddleware,
    get_error,
    get_identity,
    strip_claim_headers,
)
from .verifier import Verifier

__all__ = [
    "ERROR_KEY",
    "IDENTITY_KEY",
    "AccessDenied",
    "ConfigurationError",
    "Identity",
    "InvalidAudience",
    "InvalidClaims",
    "InvalidIssuer",
    "InvalidSignature",
    "KeysUnavailable",
    "MalformedToken",
    "MissingToken",
    "PomeriumError",
    "PomeriumMiddleware",
    "RemoteJWKS",
    "Requirement",
    "StaticKeys",
    "TokenExpired",
    "TokenNotYetValid",
    "UnknownKey",
    "VerificationError",
    "Verifier",
    "get_error",
    "get_identity",
    "protect",
    "require_all_groups",
    "require_claim",
    "require_email",
    "require_email_domain",
    "require_group",
    "require_identity",
    "strip_claim_headers",
]
__version__ = "0.1.0"
