"""Django middleware that verifies Pomerium's identity JWT on every request.

Place it right after ``django.contrib.auth.middleware.AuthenticationMiddleware``. For each
request that is not exempt it verifies the token with the core
(:meth:`pomerium_wsgi.PomeriumMiddleware.authenticate`, which also sends the core's
signals), sets ``request.pomerium_identity``, and answers 401 / 503 itself unless
``OPTIONAL`` is set. With :class:`~django_pomerium.backends.PomeriumBackend` in
``AUTHENTICATION_BACKENDS`` it sets ``request.user`` to the mapped user for this request.

.. warning::

    The token is the session. Django's ``RemoteUserMiddleware`` keeps a login in the
    session, so a later request without the header is still authenticated; here a request
    without a verified token (optional mode, exempt path, CORS preflight) has an anonymous
    ``request.user`` whatever session cookie it carries, and nothing is written to the
    session. ``X-Pomerium-Claim-*`` headers are unsigned: they are removed from
    ``request.META`` (and from ``request.headers``) before anything after this middleware
    runs. ``META`` maps ``X-A-B`` and ``X-A_B`` to one key, so both spellings go.
"""

from __future__ import annotations

import typing as t

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import load_backend
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

from pomerium_wsgi import ERROR_KEY, IDENTITY_KEY, Identity, get_error, strip_claim_headers
from pomerium_wsgi.errors import FetchRequired
from pomerium_wsgi.keys import no_fetch
from pomerium_wsgi.middleware import environ_is_cors_preflight, path_is_exempt

from .conf import PomeriumSettings, get_settings
from .responses import refusal

if t.TYPE_CHECKING:  # pragma: no cover
    from .backends import PomeriumBackend

#: The dotted path of the backend that maps identities to users.
BACKEND_PATH = "django_pomerium.backends.PomeriumBackend"


def find_backend() -> tuple[str, PomeriumBackend] | None:
    """The first ``AUTHENTICATION_BACKENDS`` entry that is a ``PomeriumBackend`` (or a
    subclass), with its path; None when the project maps no users."""
    from .backends import PomeriumBackend

    for path in settings.AUTHENTICATION_BACKENDS:
        backend = load_backend(path)
        if isinstance(backend, PomeriumBackend):
            return path, backend
    return None


class PomeriumMiddleware:
    """Verify the token, set ``request.pomerium_identity`` (and ``request.user``), or
    refuse the request. Runs under WSGI and ASGI alike."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: t.Callable[[HttpRequest], t.Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        get_settings()  # a bad configuration fails at start-up, not on the first request
        found = find_backend()
        self.backend_path: str | None = found[0] if found else None
        self.backend: PomeriumBackend | None = found[1] if found else None

    def __call__(self, request: HttpRequest) -> t.Any:
        if self.async_mode:
            return self.__acall__(request)
        conf = get_settings()
        if self._skips(request, conf):
            identity = None
        else:
            identity = conf.gate.authenticate(request.META, sender=self)
            if identity is None and not conf.optional:
                return refusal(request, get_error(request.META))
        self._record(request, identity)
        if self.backend is not None:
            self._set_user(request, self._map_user(request, identity))
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        conf = get_settings()
        if self._skips(request, conf):
            identity = None
        else:
            # Inline, unless the keys must be fetched (rare, but up to TIMEOUT seconds):
            # then in a worker thread, so the event loop never waits on the network.
            try:
                with no_fetch():
                    identity = conf.gate.authenticate(request.META, sender=self)
            except FetchRequired:
                identity = await sync_to_async(
                    conf.gate.authenticate, thread_sensitive=False)(request.META, sender=self)
            if identity is None and not conf.optional:
                return refusal(request, get_error(request.META))
        self._record(request, identity)
        if self.backend is not None:
            if identity is None:
                user = self._map_user(request, None)  # no query: anonymous
            else:
                user = await sync_to_async(self._map_user)(request, identity)
            self._set_user(request, user)
        response: HttpResponseBase = await self.get_response(request)
        return response

    def _skips(self, request: HttpRequest, conf: PomeriumSettings) -> bool:
        """True for a request served unverified: an exempt path or an allowed preflight.
        Its claim headers are removed all the same."""
        if (conf.exempt and path_is_exempt(request.path_info, conf.exempt)) or (
            conf.cors_preflight and environ_is_cors_preflight(request.META)
        ):
            strip_claim_headers(request.META)
            request.META[IDENTITY_KEY] = None
            request.META[ERROR_KEY] = None
            return True
        return False

    def _record(self, request: HttpRequest, identity: Identity | None) -> None:
        # request.headers is built from META once and cached: drop a copy that a
        # middleware before this one made while the claim headers were still there.
        request.__dict__.pop("headers", None)
        request.pomerium_identity = identity

    def _map_user(self, request: HttpRequest, identity: Identity | None) -> t.Any:
        """The user this request acts as: the backend's mapping of *identity*, or anonymous
        (never the session's user)."""
        if not hasattr(request, "user"):
            raise ImproperlyConfigured(
                f"{BACKEND_PATH} is in AUTHENTICATION_BACKENDS, so "
                "django_pomerium.middleware.PomeriumMiddleware must come after "
                "django.contrib.auth.middleware.AuthenticationMiddleware in MIDDLEWARE")
        if identity is not None and self.backend is not None:
            user = self.backend.authenticate(request, identity=identity)
            if user is not None:
                user.backend = self.backend_path
                return user
        return AnonymousUser()

    def _set_user(self, request: HttpRequest, user: t.Any) -> None:
        request.user = user
        # Django >= 5.0 views may await request.auser(): the same user, not the session's.

        async def auser() -> t.Any:
            return user

        request.auser = auser
