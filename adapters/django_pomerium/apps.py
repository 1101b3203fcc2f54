"""The ``django_pomerium`` app: add it to ``INSTALLED_APPS`` for its system checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class PomeriumConfig(AppConfig):  # type: ignore[misc]
    """Registers the checks of :mod:`django_pomerium.checks` when the app is ready."""

    name = "django_pomerium"
    verbose_name = "Pomerium"

    def ready(self) -> None:
        from .checks import check_middleware, check_settings

        checks.register(check_settings, checks.Tags.security)
        checks.register(check_middleware, checks.Tags.security)
