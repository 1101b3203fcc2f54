"""``config.include("pyramid_pomerium")``: settings in, security wired up.

Settings usually come from an .ini file, so every value may be a string; lists are parsed
with Pyramid's own ``aslist`` (whitespace- or newline-separated) and flags accept Pyramid's
``asbool`` words (``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0``), so they
behave as in the rest of Pyramid. Bad settings fail when the app
is configured, never on the first request.
"""

from __future__ import annotations

import typing as t

from pyramid.settings import aslist
from pyramid.tweens import EXCVIEW

from pomerium_wsgi import ConfigurationError as CoreConfigurationError
from pomerium_wsgi import Verifier

from .errors import ConfigurationError
from .policy import DEFAULT_HEADER, PomeriumSecurityPolicy
from .views import (
    EXEMPTION_DERIVER_PLACE,
    exemption_view_deriver,
    flag_setting,
    forbidden_view,
    requirement_view_deriver,
)

PREFIX = "pomerium."
#: Settings that build the Verifier (all but ``verifier`` may be strings).
VERIFIER_SETTINGS = ("audience", "issuer", "jwks_url", "jwks", "algorithms", "leeway",
                     "timeout")


def _text(settings: t.Mapping[str, t.Any], name: str) -> str | None:
    value = settings.get(PREFIX + name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{PREFIX}{name} must be a string")
    return value.strip() or None


def _list(settings: t.Mapping[str, t.Any], name: str) -> list[str] | None:
    value = settings.get(PREFIX + name)
    if value is None:
        return None
    try:
        items = aslist(value)
    except TypeError:
        raise ConfigurationError(f"{PREFIX}{name} must be a string or a list") from None
    return [str(item) for item in items] or None


def _number(settings: t.Mapping[str, t.Any], name: str) -> float | None:
    value = settings.get(PREFIX + name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"{PREFIX}{name} must be a number of seconds")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{PREFIX}{name} must be a number of seconds") from None


def verifier_from_settings(settings: t.Mapping[str, t.Any]) -> Verifier:
    """Build the :class:`~pomerium_wsgi.Verifier` the ``pomerium.*`` settings describe.

    ``pomerium.verifier`` may hold a ready Verifier object (for options an .ini file
    cannot express, such as a shared ``RedisCache``); the other verifier settings must
    then be absent, so two sources of truth cannot disagree.
    """
    if PREFIX + "cache" in settings:
        raise ConfigurationError(
            f"{PREFIX}cache is not a setting: build a Verifier with cache=... (for example "
            f"a RedisCache) and pass it as {PREFIX}verifier"
        )
    ready = settings.get(PREFIX + "verifier")
    if ready is not None:
        given = [PREFIX + n for n in VERIFIER_SETTINGS if settings.get(PREFIX + n) is not None]
        if given:
            raise ConfigurationError(
                f"{PREFIX}verifier is set: leave out {', '.join(given)}")
        if not callable(getattr(ready, "verify", None)):
            raise ConfigurationError(f"{PREFIX}verifier must be a pomerium_wsgi.Verifier")
        return t.cast(Verifier, ready)

    audience = _list(settings, "audience")
    if not audience:
        raise ConfigurationError(
            f"{PREFIX}audience is required: this app's host as Pomerium routes to it, "
            f"e.g. '{PREFIX}audience = app.example.com'"
        )
    options: dict[str, t.Any] = {}
    issuer = _list(settings, "issuer")
    if issuer is not None:
        options["issuer"] = issuer
    jwks_url = _text(settings, "jwks_url")
    if jwks_url is not None:
        options["jwks_url"] = jwks_url
    jwks = settings.get(PREFIX + "jwks")
    if jwks is not None and not (isinstance(jwks, str) and not jwks.strip()):
        options["jwks"] = jwks  # JWKS JSON text, PEM text, or a JWKS dict
    algorithms = _list(settings, "algorithms")
    if algorithms is not None:
        options["algorithms"] = algorithms
    for name in ("leeway", "timeout"):
        number = _number(settings, name)
        if number is not None:
            options[name] = number
    try:
        return Verifier(audience if len(audience) > 1 else audience[0], **options)
    except CoreConfigurationError as exc:
        raise ConfigurationError(f"invalid {PREFIX}* settings: {exc}") from None


def policy_from_settings(settings: t.Mapping[str, t.Any]) -> PomeriumSecurityPolicy:
    """The security policy the ``pomerium.*`` settings describe."""
    verifier = verifier_from_settings(settings)
    try:
        return PomeriumSecurityPolicy(verifier, header=_text(settings, "header") or DEFAULT_HEADER,
                                      exempt=_list(settings, "exempt") or ())
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
    ``cors_allow_preflight``) and
    ``pomerium.verifier`` (a ready Verifier, instead of the verifier settings; the way
    to give it a key cache: there is no ``pomerium.cache`` setting, and one is refused).

    Registers :class:`PomeriumSecurityPolicy`, the forbidden view that answers 401 vs
    403, the ``pomerium_requirement=`` / ``pomerium_groups=`` / ``pomerium_exempt=`` view
    options, and a tween
    that removes ``X-Pomerium-Claim-*`` headers and, unless ``pomerium.optional`` is
    true, refuses every request without a verified identity outside the exempt paths.
    Raises :class:`ConfigurationError` at once for a missing audience or a bad setting.
    """
    settings = config.get_settings() or {}
    try:
        flag_setting(settings, "optional")
        flag_setting(settings, "cors_preflight")
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    config.set_security_policy(policy_from_settings(settings))
    config.add_forbidden_view(forbidden_view)
    config.add_view_deriver(requirement_view_deriver, name="pomerium_requirement",
                            under="secured_view", over="owrapped_view")
    config.add_view_deriver(exemption_view_deriver, name="pomerium_exempt",
                            **EXEMPTION_DERIVER_PLACE)
    config.add_tween("pyramid_pomerium.views.pomerium_tween_factory", under=EXCVIEW)
