"""Settings: one parser for every adapter's configuration and for ``POMERIUM_*`` variables.

Each adapter reads configuration in its framework's idiom (Flask's ``app.config``, Pyramid's
``pomerium.*`` settings, Django's ``settings.POMERIUM``, keyword arguments), and values that
come from ini files or the environment arrive as strings. Parsing them in one place keeps
the rules identical everywhere: a list is a list of strings or one string of items separated
by commas, spaces or newlines (an .ini file's multi-line value works too),
a boolean is ``true/false/1/0/yes/no/on/off``, a number may be written as text.

The environment fills in what the app's own configuration leaves out, so that one set of
variables (exported by ``pomerium-wsgi dev``, or by a deployment) configures any adapter.
Configuration in code wins, with two rules that keep the environment from ever producing a
"both given" error: ``jwks`` and ``jwks_url`` count as one setting (where the code names
either, the environment's key source is ignored), and a ready ``verifier`` given in code
ignores the environment entirely.
"""

from __future__ import annotations

import os
import typing as t

from .errors import ConfigurationError

#: The request header Pomerium puts the identity token in: every adapter's default.
DEFAULT_HEADER = "X-Pomerium-Jwt-Assertion"
#: Prefix of the environment variables read by :func:`env_settings`.
ENV_PREFIX = "POMERIUM_"

#: Settings that are :class:`~pomerium_wsgi.Verifier` options.
VERIFIER_SETTINGS = (
    "audience", "issuer", "jwks_url", "jwks", "algorithms", "leeway", "timeout", "cache",
)
#: Settings read from the environment (``POMERIUM_`` + the name in upper case).
ENV_SETTINGS = (
    "audience", "issuer", "jwks_url", "jwks", "algorithms", "leeway", "timeout",
    "exempt", "optional", "cors_preflight",
)

_LISTS = frozenset({"audience", "issuer", "algorithms", "exempt"})
_NUMBERS = frozenset({"leeway", "timeout"})
_BOOLEANS = frozenset({"optional", "cors_preflight", "exempt_static"})
_TEXTS = frozenset({"jwks_url", "header"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def env_name(name: str) -> str:
    """The variable that holds setting *name* (``"jwks_url"`` -> ``POMERIUM_JWKS_URL``)."""
    return ENV_PREFIX + name.upper()


def coerce(name: str, value: t.Any, *, label: str | None = None) -> t.Any:
    """Parse one setting's value into the type its option takes.

    *label* names the setting in error messages as the user wrote it (``POMERIUM_LEEWAY``,
    ``pomerium.leeway``); it defaults to the environment variable's name. Settings this
    module does not know (``cache``, ``jwks``, adapter-specific ones) pass through unchanged.
    """
    label = label or env_name(name)
    if name in _LISTS:
        return _names(value, label)
    if name in _NUMBERS:
        return _number(value, label)
    if name in _BOOLEANS:
        return _boolean(value, label)
    if name in _TEXTS:
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"{label} must be a non-empty string, not {value!r}")
        return value.strip()
    return value


def env_settings(environ: t.Mapping[str, str] | None = None, *,
                 skip: t.Collection[str] = ()) -> dict[str, t.Any]:
    """The settings found in *environ* (default ``os.environ``), parsed; empty ones skipped,
    and so are the names in *skip* (not even parsed)."""
    environ = os.environ if environ is None else environ
    found: dict[str, t.Any] = {}
    for name in ENV_SETTINGS:
        if name in skip:
            continue
        raw = environ.get(env_name(name))
        if raw is None or not raw.strip():
            continue
        found[name] = _jwks_from_env(raw) if name == "jwks" else coerce(name, raw)
    return found


def with_env(
    options: t.Mapping[str, t.Any], environ: t.Mapping[str, str] | None = None
) -> dict[str, t.Any]:
    """*options* given in code (``None`` means left out), completed from the environment.

    A non-``None`` ``options["verifier"]`` returns the given options alone: a ready verifier
    is complete, and mixing it with environment settings would be ambiguous.
    """
    given = {name: value for name, value in options.items() if value is not None}
    if given.get("verifier") is not None:
        return given
    # A variable for a setting the code gives is not read at all: an unreadable
    # POMERIUM_JWKS file or a malformed POMERIUM_LEEWAY must not stop an app whose code
    # sets those itself.
    skip = set(given)
    if "jwks" in given or "jwks_url" in given:
        skip.update(("jwks", "jwks_url"))
    merged = env_settings(environ, skip=skip)
    merged.update(given)
    return merged


def verifier_options(options: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The subset of *options* that :class:`~pomerium_wsgi.Verifier` takes."""
    return {name: options[name] for name in VERIFIER_SETTINGS if name in options}


def _names(value: t.Any, label: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    if isinstance(value, list | tuple | set | frozenset) and all(
        isinstance(item, str) for item in value
    ):
        return tuple(value)
    raise ConfigurationError(
        f"{label} must be a string (comma-separated) or a list of strings, not {value!r}"
    )


def _number(value: t.Any, label: str) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ConfigurationError(f"{label} must be a number of seconds, not {value!r}")


def _boolean(value: t.Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ConfigurationError(
        f"{label} must be a boolean (true/false, 1/0, yes/no, on/off), not {value!r}"
    )


def _jwks_from_env(raw: str) -> str:
    """``POMERIUM_JWKS`` holds JWKS JSON, PEM text, or the path of a file with either."""
    text = raw.strip()
    if text.startswith("{") or text.startswith("-----BEGIN"):
        return text
    try:
        with open(text, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigurationError(
            f"{env_name('jwks')} must be JWKS JSON, PEM text, or the path of a readable "
            f"file holding either; cannot read it as a file: {why or exc}"
        ) from None
