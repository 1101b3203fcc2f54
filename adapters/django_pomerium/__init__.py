"""Pomerium identity for Django: a middleware, an authentication backend, decorators,
a class-based-view mixin and system checks.

Only names that import no models are re-exported here (this package is also a Django
app, imported before the app registry is ready); the middleware and the backend are
named by their dotted paths in settings:
``django_pomerium.middleware.PomeriumMiddleware``,
``django_pomerium.backends.PomeriumBackend``.
"""

from pomerium_wsgi.extras import missing_extra

try:  # first: without django, say which extra to install rather than "No module named"
    import django  # noqa: F401
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "django", "django", "django_pomerium") from exc

from .conf import PomeriumImproperlyConfigured, PomeriumSettings, get_settings, reset
from .decorators import (
    ViewRequirement,
    identity_passes_test,
    require_all_groups,
    require_claim,
    require_email,
    require_email_domain,
    require_group,
    require_identity,
    requires,
)
from .mixins import PomeriumRequiredMixin

__all__ = [
    "PomeriumImproperlyConfigured",
    "PomeriumRequiredMixin",
    "PomeriumSettings",
    "ViewRequirement",
    "get_settings",
    "identity_passes_test",
    "require_all_groups",
    "require_claim",
    "require_email",
    "require_email_domain",
    "require_group",
    "require_identity",
    "requires",
    "reset",
]
