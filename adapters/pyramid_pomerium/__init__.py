"""Pomerium identity for Pyramid: a security policy, ACL principals, 401 vs 403.

``config.include("pyramid_pomerium")`` reads the ``pomerium.*`` settings and wires up
:class:`PomeriumSecurityPolicy`, :func:`forbidden_view`, the ``pomerium_requirement=`` /
``pomerium_groups=`` / ``pomerium_exempt=`` view options and the verifying tween. Signals
from this adapter use the app's registry (``request.registry``, i.e. ``config.registry``)
as ``sender``.
"""

from pomerium_wsgi.extras import missing_extra

try:  # first: without pyramid, say which extra to install rather than "No module named"
    import pyramid  # noqa: F401
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "pyramid", "pyramid", "pyramid_pomerium") from exc

from .config import includeme, policy_from_settings, verifier_from_settings
from .errors import ConfigurationError
from .policy import PomeriumSecurityPolicy, principals_for
from .views import (
    exemption_view_deriver,
    forbidden_view,
    pomerium_tween_factory,
    problem_response,
    requirement_view_deriver,
    view_requirement,
)

__all__ = [
    "ConfigurationError",
    "PomeriumSecurityPolicy",
    "exemption_view_deriver",
    "forbidden_view",
    "includeme",
    "policy_from_settings",
    "pomerium_tween_factory",
    "principals_for",
    "problem_response",
    "requirement_view_deriver",
    "verifier_from_settings",
    "view_requirement",
]
