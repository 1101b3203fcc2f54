"""From an adapter's settings to a ready Verifier: the configuration step adapters share.

Each adapter reads its settings in its framework's idiom (Flask's ``app.config``,
Pyramid's ``pomerium.*`` settings, a plugin's keyword arguments) and hands them to
:func:`configure` under the core's names (``audience``, ``leeway``, ``optional``,
``exempt``, ``verifier``, ...). Here they are parsed by :func:`~pomerium_wsgi.settings.coerce`
(errors name the setting as the user wrote it), completed from the ``POMERIUM_*``
environment variables (:func:`~pomerium_wsgi.settings.with_env`), and the
:class:`~pomerium_wsgi.Verifier` is built. Doing this once keeps the rules identical in
every adapter:

* configuration in code wins over the environment; ``jwks`` and ``jwks_url`` count as
  one setting, so the environment never produces a "both given" error;
* a ready verifier given in code wins over everything else: the verifier settings beside
  it (an app's production ``audience``, say) are ignored, and so is the environment.
  That is what lets a test hand a FakePomerium verifier to an app configured for
  production. The ignored settings are named in an INFO log line, never silently.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import typing as t

from . import settings
from .errors import ConfigurationError
from .verifier import Verifier

log = logging.getLogger("pomerium_wsgi.configure")

#: Every keyword :class:`~pomerium_wsgi.Verifier` takes (``audience``, ``cooldown``, ...).
VERIFIER_PARAMETERS = frozenset(inspect.signature(Verifier).parameters)

Label = t.Callable[[str], str]


@dataclasses.dataclass(frozen=True)
class Configured:
    """An adapter's settings, resolved: the verifier, and every other setting parsed."""

    #: The verifier given in code, or built from the settings and the environment.
    verifier: Verifier
    #: The settings that are not Verifier options (``optional``, ``exempt``, ``header``,
    #: ``cors_preflight``, ...), code over environment; left-out ones are absent.
    options: t.Mapping[str, t.Any]


def parse(code: t.Mapping[str, t.Any], label: Label) -> dict[str, t.Any]:
    """The settings given in *code*, each parsed by ``coerce`` and named by *label*.

    ``None`` means left out. So does a blank or empty value of a setting the environment
    can supply (``POMERIUM_AUDIENCE = ""`` in a config file), so that the environment
    fills it in instead of the blank winning.
    """
    given: dict[str, t.Any] = {}
    for name, value in code.items():
        if value is None:
            continue
        if name == "verifier":
            given[name] = value
            continue
        if name in settings.ENV_SETTINGS and isinstance(value, str) and not value.strip():
            continue
        parsed = settings.coerce(name, value, label=label(name))
        if name in settings.ENV_SETTINGS and parsed == ():
            continue
        given[name] = parsed
    return given


def configure(
    code: t.Mapping[str, t.Any],
    *,
    label: Label = settings.env_name,
    environ: t.Mapping[str, str] | None = None,
    factory: t.Callable[..., Verifier] = Verifier,
) -> Configured:
    """Resolve an adapter's settings (see the module docstring for the precedence).

    *code* holds the settings the app gives, by the core's names; ``None`` means left
    out. *label* turns a name into the setting as the user writes it, for messages
    (``"leeway"`` -> ``"pomerium.leeway"``). *environ* defaults to ``os.environ``;
    *factory* builds the verifier (a :class:`~pomerium_wsgi.Verifier` subclass).
    Raises :class:`~pomerium_wsgi.ConfigurationError` for a missing audience or a bad
    value, at configuration time.
    """
    given = parse(code, label)
    ready = given.pop("verifier", None)
    if ready is not None:
        if not callable(getattr(ready, "verify", None)):
            raise ConfigurationError(
                f"{label('verifier')} must be a pomerium_wsgi.Verifier, "
                f"not {type(ready).__name__}"
            )
        ignored = [label(name) for name in given if name in VERIFIER_PARAMETERS]
        if ignored:
            log.info("a ready verifier was given, so %s %s not used", ", ".join(ignored),
                     "is" if len(ignored) == 1 else "are")
        others = {n: v for n, v in given.items() if n not in VERIFIER_PARAMETERS}
        return Configured(t.cast(Verifier, ready), others)

    merged = settings.with_env(given, environ)
    if not merged.get("audience"):
        raise ConfigurationError(
            f"{label('audience')} is not set, nor the {settings.env_name('audience')} "
            "environment variable: set it to this app's host as Pomerium routes to it "
            "(e.g. app.example.com)"
        )
    cache = merged.get("cache")
    if cache is not None and not (
        callable(getattr(cache, "get", None)) and callable(getattr(cache, "set", None))
    ):
        raise ConfigurationError(
            f"{label('cache')} must be a cachelib cache (e.g. cachelib.RedisCache), "
            f"not {type(cache).__name__}"
        )
    options = {n: v for n, v in merged.items() if n in VERIFIER_PARAMETERS}
    try:
        verifier = factory(**options)
    except TypeError as exc:  # a value of the wrong type deep inside; never a 500 later
        raise ConfigurationError(f"invalid verifier settings: {exc}") from None
    return Configured(verifier, {n: v for n, v in merged.items() if n not in options})
