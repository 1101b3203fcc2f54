"""Settings: ``settings.POMERIUM`` parsed once into a :class:`PomeriumSettings`.

Every key is optional. A verifier option the project leaves out comes from the
``POMERIUM_*`` environment variable of the same name (the core's
:mod:`pomerium_wsgi.settings` rules, identical in every adapter), so the same variables
that ``pomerium-wsgi dev`` or a deployment exports configure a Django project too. A
ready ``VERIFIER`` ignores the environment entirely and excludes the verifier options.

The parsed settings (and the verifier, whose key cache must live as long as the process)
are built on first use under a lock, and dropped when Django's ``setting_changed`` signal
names ``POMERIUM``, so ``override_settings(POMERIUM=...)`` works in tests.
"""

from __future__ import annotations

import dataclasses
import threading
import typing as t

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from pomerium_wsgi import ConfigurationError, PomeriumMiddleware, Verifier
from pomerium_wsgi.configure import parse as parse_code
from pomerium_wsgi.middleware import normalise_exempt
from pomerium_wsgi.settings import coerce, verifier_options, with_env

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: The Django setting holding the dict of options.
SETTING = "POMERIUM"
#: The request header Pomerium puts the identity token in.
DEFAULT_HEADER = "X-Pomerium-Jwt-Assertion"
#: Keys of ``settings.POMERIUM`` that build the verifier (exclusive with ``VERIFIER``).
VERIFIER_KEYS = ("AUDIENCE", "ISSUER", "JWKS_URL", "JWKS", "ALGORITHMS", "LEEWAY", "CACHE",
                 "TIMEOUT")
#: Every key ``settings.POMERIUM`` may hold; any other is refused (a typo would otherwise
#: silently weaken the configuration).
KEYS = (*VERIFIER_KEYS, "VERIFIER", "OPTIONAL", "EXEMPT", "HEADER", "CORS_PREFLIGHT",
        "CREATE_USERS", "SYNC_GROUPS", "USERNAME_CLAIM", "STAFF_GROUPS", "SUPERUSER_GROUPS")


class PomeriumImproperlyConfigured(ConfigurationError, ImproperlyConfigured):  # type: ignore[misc]
    """A bad ``settings.POMERIUM``: both the core's ``ConfigurationError`` and Django's
    ``ImproperlyConfigured``, so either ``except`` clause catches it."""


class MissingAudience(PomeriumImproperlyConfigured):
    """Neither an audience (in the settings or the environment) nor a ``VERIFIER``."""


@dataclasses.dataclass(frozen=True)
class PomeriumSettings:
    """``settings.POMERIUM`` parsed and checked; see the Django guide for each key."""

    #: Checks each request's token.
    verifier: Verifier
    #: The core gate: strips claim headers, verifies, records, sends the signals.
    gate: PomeriumMiddleware
    #: True: requests without a valid token reach the views as anonymous.
    optional: bool
    #: Path prefixes (of ``request.path_info``) served without verification.
    exempt: tuple[str, ...]
    #: The request header carrying the token.
    header: str
    #: True: CORS preflight requests pass unverified (Pomerium's ``cors_allow_preflight``).
    cors_preflight: bool
    #: True: a token for an unknown user creates the user.
    create_users: bool
    #: True (all of the token's groups), a tuple of group names (only those), or False.
    sync_groups: bool | tuple[str, ...]
    #: The claim whose value is the Django username.
    username_claim: str
    #: Members of any of these groups are staff (None: ``is_staff`` is left alone).
    staff_groups: tuple[str, ...] | None
    #: Members of any of these groups are superusers (None: left alone).
    superuser_groups: tuple[str, ...] | None


def _unused_app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    # The gate is used only for PomeriumMiddleware.authenticate(); never called.
    raise AssertionError("the django_pomerium gate does not serve requests")  # pragma: no cover


def _label(key: str) -> str:
    return f"POMERIUM[{key!r}]"


def _flag(raw: t.Mapping[str, t.Any], key: str, default: bool) -> bool:
    value = raw.get(key)
    return default if value is None else bool(coerce("optional", value, label=_label(key)))


def _groups(raw: t.Mapping[str, t.Any], key: str) -> tuple[str, ...] | None:
    value = raw.get(key)
    return None if value is None else tuple(coerce("exempt", value, label=_label(key)))


def _sync_groups(raw: t.Mapping[str, t.Any]) -> bool | tuple[str, ...]:
    value = raw.get("SYNC_GROUPS", False)
    if isinstance(value, bool):
        return value
    if isinstance(value, list | tuple | set | frozenset) and all(
        isinstance(v, str) and v for v in value
    ):
        return tuple(value)
    raise PomeriumImproperlyConfigured(
        f"{_label('SYNC_GROUPS')} must be True (all of the token's groups), False, or a "
        f"list of group names, not {value!r}"
    )


def parse(raw: t.Any) -> PomeriumSettings:
    """Parse a ``settings.POMERIUM`` value (completed from the environment).

    :raises PomeriumImproperlyConfigured: a setting is missing, unknown or wrong; the
        message names the key and the fix.
    """
    try:
        return _parse(raw)
    except PomeriumImproperlyConfigured:
        raise
    except ConfigurationError as error:  # from the core's parsers or Verifier
        raise PomeriumImproperlyConfigured(str(error)) from None


def _parse(raw: t.Any) -> PomeriumSettings:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PomeriumImproperlyConfigured(
            f"settings.{SETTING} must be a dict of options, not {type(raw).__name__}")
    unknown = sorted(set(raw) - set(KEYS), key=str)
    if unknown:
        raise PomeriumImproperlyConfigured(
            f"settings.{SETTING} has unknown keys {', '.join(map(repr, unknown))}; "
            f"the keys are {', '.join(KEYS)}")
    verifier = raw.get("VERIFIER")
    if verifier is not None:
        given = [_label(k) for k in VERIFIER_KEYS if raw.get(k) is not None]
        if given:
            raise PomeriumImproperlyConfigured(
                f"{_label('VERIFIER')} is given, so {', '.join(given)} would be ignored: "
                "remove them, or remove VERIFIER and let them build the verifier")
        if not callable(getattr(verifier, "verify", None)):
            raise PomeriumImproperlyConfigured(
                f"{_label('VERIFIER')} must be a pomerium_wsgi.Verifier")
    # The core's parser, as in every adapter: a blank value ("" from an env-driven
    # settings file) is left out, so the environment fills it in.
    code = parse_code({key.lower(): raw.get(key) for key in
                       (*VERIFIER_KEYS, "OPTIONAL", "EXEMPT", "HEADER", "CORS_PREFLIGHT")},
                      lambda name: _label(name.upper()))
    code["verifier"] = verifier
    options = with_env(code)
    if verifier is None:
        if not options.get("audience"):
            raise MissingAudience(
                f"no audience: set {_label('AUDIENCE')} (or the POMERIUM_AUDIENCE "
                "environment variable) to this site's host as Pomerium routes to it, "
                f"e.g. 'app.example.com', or give a ready verifier as {_label('VERIFIER')}")
        verifier = Verifier(**verifier_options(options))
    claim = raw.get("USERNAME_CLAIM", "email")
    if not isinstance(claim, str) or not claim:
        raise PomeriumImproperlyConfigured(
            f"{_label('USERNAME_CLAIM')} must be a claim name, not {claim!r}")
    header = options.get("header", DEFAULT_HEADER)
    exempt = normalise_exempt(options.get("exempt", ()))
    gate = PomeriumMiddleware(_unused_app, verifier, optional=True, exempt=exempt,
                              header=header, remote_user=None)
    return PomeriumSettings(
        verifier=verifier,
        gate=gate,
        optional=bool(options.get("optional", False)),
        exempt=exempt,
        header=header,
        cors_preflight=bool(options.get("cors_preflight", False)),
        create_users=_flag(raw, "CREATE_USERS", True),
        sync_groups=_sync_groups(raw),
        username_claim=claim,
        staff_groups=_groups(raw, "STAFF_GROUPS"),
        superuser_groups=_groups(raw, "SUPERUSER_GROUPS"),
    )


_lock = threading.Lock()
_current: PomeriumSettings | None = None


def get_settings() -> PomeriumSettings:
    """The project's parsed settings, built once (thread-safe) and then reused."""
    global _current
    current = _current
    if current is None:
        with _lock:
            current = _current
            if current is None:
                current = _current = parse(getattr(settings, SETTING, None))
    return current


def reset() -> None:
    """Forget the parsed settings (and verifier): the next request reads them again.

    Called on ``setting_changed`` for ``POMERIUM``; call it yourself after changing the
    ``POMERIUM_*`` environment variables in a test.
    """
    global _current
    with _lock:
        _current = None


def _on_setting_changed(*, setting: str, **kwargs: t.Any) -> None:
    if setting == SETTING:
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="django_pomerium.conf.reset")
