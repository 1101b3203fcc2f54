"""System checks (``manage.py check``), registered by the ``django_pomerium`` app.

- ``django_pomerium.E001``: no audience and no ``VERIFIER`` (an audience from the
  ``POMERIUM_AUDIENCE`` environment variable counts).
- ``django_pomerium.E002``: ``settings.POMERIUM`` is invalid (the error's text).
- ``django_pomerium.W001``: the middleware is missing from ``MIDDLEWARE``, or, with
  ``PomeriumBackend`` configured, placed before ``AuthenticationMiddleware``.

Middleware and backends are compared as classes, so subclasses count.
"""

from __future__ import annotations

import typing as t

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.core import checks
from django.utils.module_loading import import_string

from .conf import SETTING, MissingAudience, PomeriumImproperlyConfigured, parse
from .middleware import PomeriumMiddleware, find_backend

_MIDDLEWARE = "django_pomerium.middleware.PomeriumMiddleware"
_AUTHENTICATION = "django.contrib.auth.middleware.AuthenticationMiddleware"


def check_settings(app_configs: t.Any = None, **kwargs: t.Any) -> list[checks.CheckMessage]:
    """E001 and E002: can a verifier be built from ``settings.POMERIUM`` (and the env)?"""
    try:
        parse(getattr(settings, SETTING, None))
    except MissingAudience:
        return [checks.Error(
            "Pomerium has no audience and no verifier.",
            hint=f"Set {SETTING}['AUDIENCE'] (or the POMERIUM_AUDIENCE environment "
                 "variable) to this site's host as Pomerium routes to it, e.g. "
                 f"'app.example.com'; or give a ready Verifier as {SETTING}['VERIFIER'].",
            id="django_pomerium.E001")]
    except PomeriumImproperlyConfigured as error:
        return [checks.Error(
            f"settings.{SETTING} is invalid: {error}",
            hint="Correct the setting named in the message.",
            id="django_pomerium.E002")]
    return []


def _classes(paths: t.Iterable[str]) -> list[type | None]:
    found: list[type | None] = []
    for path in paths:
        try:
            found.append(import_string(path))
        except ImportError:
            found.append(None)  # Django's own check reports it
    return found


def _index(classes: list[type | None], base: type) -> int | None:
    for index, cls in enumerate(classes):
        if isinstance(cls, type) and issubclass(cls, base):
            return index
    return None


def check_middleware(app_configs: t.Any = None, **kwargs: t.Any) -> list[checks.CheckMessage]:
    """W001: the middleware is installed, and after ``AuthenticationMiddleware`` when a
    ``PomeriumBackend`` maps users."""
    classes = _classes(getattr(settings, "MIDDLEWARE", None) or ())
    ours = _index(classes, PomeriumMiddleware)
    if ours is None:
        return [checks.Warning(
            f"{_MIDDLEWARE} is not in MIDDLEWARE, so no request is verified.",
            hint=f"Add '{_MIDDLEWARE}' to MIDDLEWARE, right after '{_AUTHENTICATION}'.",
            id="django_pomerium.W001")]
    try:
        backend = find_backend()
    except ImportError:
        backend = None  # Django's own checks report a backend that does not import
    if backend is not None:
        auth = _index(classes, AuthenticationMiddleware)
        if auth is None or auth > ours:
            return [checks.Warning(
                f"{_MIDDLEWARE} must come after {_AUTHENTICATION} when PomeriumBackend "
                "maps users; otherwise a session login could stand in for the token.",
                hint=f"Move '{_MIDDLEWARE}' after '{_AUTHENTICATION}' in MIDDLEWARE.",
                id="django_pomerium.W001")]
    return []
