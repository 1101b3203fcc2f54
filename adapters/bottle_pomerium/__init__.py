"""Pomerium identity for Bottle: a plugin, ``current_identity()`` and decorators."""

from .decorators import (
    RouteRequirement,
    require_all_groups,
    require_claim,
    require_email,
    require_email_domain,
    require_group,
    require_identity,
    requires,
)
from .plugin import PomeriumHTTPError, PomeriumPlugin, current_identity

__all__ = [
    "PomeriumHTTPError",
    "PomeriumPlugin",
    "RouteRequirement",
    "current_identity",
    "require_all_groups",
    "require_claim",
    "require_email",
    "require_email_domain",
    "require_group",
    "require_identity",
    "requires",
]
