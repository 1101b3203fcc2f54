"""Pomerium identity for FastAPI and Starlette: ``Pomerium(app)`` and dependencies.

The verification itself is the core's ASGI middleware, :mod:`pomerium_wsgi.asgi`; this
package adds what FastAPI users expect on top: dependencies that return the verified
identity or enforce a requirement, problem-document refusals and an OpenAPI scheme.
"""

from .dependencies import (
    SCHEME_NAME,
    CurrentIdentity,
    OptionalIdentity,
    PomeriumHTTPException,
    PomeriumIdentity,
    RequirementDependency,
    current_identity,
    optional_identity,
    require_all_groups,
    require_claim,
    require_email,
    require_email_domain,
    require_group,
    requires,
)
from .extension import Pomerium, problem_handler

__all__ = [
    "SCHEME_NAME",
    "CurrentIdentity",
    "OptionalIdentity",
    "Pomerium",
    "PomeriumHTTPException",
    "PomeriumIdentity",
    "RequirementDependency",
    "current_identity",
    "optional_identity",
    "problem_handler",
    "require_all_groups",
    "require_claim",
    "require_email",
    "require_email_domain",
    "require_group",
    "requires",
]
