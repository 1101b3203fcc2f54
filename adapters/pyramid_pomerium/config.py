"""``config.include("pyramid_pomerium")``: settings in, security wired up.

Settings usually come from an .ini file, so every value may be a string: lists are
separated by spaces, newlines or commas, flags take ``true``/``false``, ``yes``/``no``,
``on``/``off``, ``1``/``0``. They are parsed by the core (:mod:`pomerium_wsgi.settings`),
as in every adapter. A setting the file leaves out is read from the environment variable
of the same name (``pomerium.audience`` <- ``POMERIUM_AUDIENCE``), except when
``pomerium.verifier`` holds a ready verifier: that one wins over every other verifier
setting and the environment. Bad settings fail when the app is configured, never on the
first request.
"""

from __future__ import annotations

import typing as t

from pyramid.tweens import EXCVIEW, INGRESS

from pomerium_wsgi import ConfigurationError as CoreConfigurationError
from pomerium_wsgi import Verifier
from pomerium_wsgi.configure import Configured, configure
from pomerium_wsgi.settings import DEFAULT_HEADER

from .errors import ConfigurationError
from .policy import PomeriumSecurityPolicy
from .views import (
    EXEMPTION_DERIVER_PLACE,
    exemption_view_deriver,
    forbidden_view,
    requirement_view_deriver,
)

PREFIX = "pomerium."
#: The ``pomerium.*`` settings read, by the core's names.
SETTINGS = ("audience", "issuer", "jwks_url", "jwks", "algorithms", "leeway", "timeout",
            "header", "exempt", "optional", "cors_preflight", "verifier")


def _label(name: str) -> str:
    return PREFIX + name


def resolve_settings(settings: t.Mapping[str, t.Any]) -> Configured:
    """The verifier and options the ``pomerium.*`` settings (and the environment) describe.

    ``pomerium.verifier`` may hold a ready Verifier object (for options an .ini file
    cannot express, such as a shared ``RedisCache``, or a test's FakePomerium verifier);
    the other verifier settings are then not used.
    """
    if PREFIX + "cache" in settings:
        raise ConfigurationError(
            f"{PREFIX}cache is not a setting: build a Verifier with cache=... (for example "
            f"a RedisCache) and pass it as {PREFIX}verifier"
        )
    try:
        return configure({name: settings.get(PREFIX + name) for name in SETTINGS},
                         label=_label)
    except CoreConfigurationError as exc:
        raise ConfigurationError(f"invalid {PREFIX}* settings: {exc}") from None


def verifier_from_settings(settings: t.Mapping[str, t.Any]) -> Verifier:
    """Build the :class:`~pomerium_wsgi.Verifier` the ``pomerium.*`` settings describe."""
    return resolve_settings(settings).verifier


def policy_from_settings(settings: t.Mapping[str, t.Any],
                         configured: Configured | None = None) -> PomeriumSecurityPolicy:
    """The security policy the ``pomerium.*`` settings describe."""
    configured = configured or resolve_settings(settings)
    try:
        return PomeriumSecurityPolicy(configured.verifier,
                                      header=configured.options.get("header", DEFAULT_HEADER),
                                      exempt=configured.options.get("exempt", ()))
    except CoreConfigurationError as exc:
        raise ConfigurationError(f"invalid {PREFIX}* settings: {exc}") from None


def includeme(config: t.Any) -> None:
    """Wire Pomerium into a Pyramid app from its ``pomerium.*`` settings.

    ``pomerium.audience`` (required; one or more hosts), ``pomerium.issuer``,
    ``pomerium.jwks_url``, ``pomerium.jwks``, ``pomerium.algorithms``,
    ``pomerium.leeway``, ``pomerium.timeout``, ``pomerium.header``,
    ``pomerium.exempt`` (path prefixes; in a traversal app, see
    :func:`~pyramid_pomerium.views.exemption_view_deriver` for what a prefix exempts),
    ``pomerium.optional`` (default false), ``pomerium.cors_preflight`` (default false:
    true lets CORS preflight requests through unverified, for a Pomerium route with
    ``cors_allow_preflight``) and ``pomerium.verifier`` (a ready Verifier, which wins
    over the verifier settings and the environment; the way to give it a key cache:
    there is no ``pomerium.cache`` setting, and one is refused). A setting left out is
    read from the ``POMERIUM_*`` environment variable of the same name.

    Registers :class:`PomeriumSecurityPolicy`, the forbidden view that answers 401 vs
    403, the ``pomerium_requirement=`` / ``pomerium_groups=`` / ``pomerium_exempt=`` view
    options, and a tween
    that removes ``X-Pomerium-Claim-*`` headers and, unless ``pomerium.optional`` is
    true, refuses every request without a verified identity outside the exempt paths.
    Raises :class:`ConfigurationError` at once for a missing audience or a bad setting.
    """
    configured = resolve_settings(config.get_settings() or {})
    config.set_security_policy(policy_from_settings({}, configured))
    # The tween and the view derivers read the flags from the settings: record the
    # values in effect (the environment's, when the file leaves them out).
    config.add_settings({
        PREFIX + flag: bool(configured.options.get(flag))
        for flag in ("optional", "cors_preflight")
    })
    config.add_forbidden_view(forbidden_view)
    config.add_view_deriver(requirement_view_deriver, name="pomerium_requirement",
                            under="secured_view", over="owrapped_view")
    config.add_view_deriver(exemption_view_deriver, name="pomerium_exempt",
                            **EXEMPTION_DERIVER_PLACE)
    config.add_tween("pyramid_pomerium.views.pomerium_tween_factory", under=EXCVIEW)
    # Above every tween of the app's own, which would otherwise see forged claim headers.
    config.add_tween("pyramid_pomerium.views.claim_headers_tween_factory", under=INGRESS)
