"""Pomerium identity for Bottle: a plugin, ``current_identity()`` and decorators."""

from pomerium_wsgi.extras import missing_extra

try:  # first: without bottle, say which extra to install rather than "No module named"
    import bottle  # noqa: F401
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "bottle", "bottle", "bottle_pomerium") from exc

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
