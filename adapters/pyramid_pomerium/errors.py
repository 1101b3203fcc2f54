"""The adapter's configuration error, catchable as the core's and as Pyramid's."""

from __future__ import annotations

from pyramid.exceptions import ConfigurationError as PyramidConfigurationError

from pomerium_wsgi import ConfigurationError as CoreConfigurationError


class ConfigurationError(CoreConfigurationError, PyramidConfigurationError):  # type: ignore[misc]
    """A ``pomerium.*`` setting, a view option or a policy argument is wrong.

    Both :class:`pomerium_wsgi.ConfigurationError` (a ``ValueError``) and
    :class:`pyramid.exceptions.ConfigurationError`, so code written for either library
    catches it. Raised while the app is configured, never per request.
    """
