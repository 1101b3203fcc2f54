"""A Pyramid 2 security policy whose identity is a verified Pomerium token.

Pomerium authenticates the user and signs a fresh JWT into ``X-Pomerium-Jwt-Assertion``
on every request it forwards. :class:`PomeriumSecurityPolicy` verifies that token (only
that token) with a core :class:`~pomerium_wsgi.Verifier` and exposes the result the
Pyramid way: ``request.identity`` is the :class:`~pomerium_wsgi.Identity` (or None),
``request.authenticated_userid`` the subject, and ``request.has_permission`` / view
``permission=`` go through ACLs with principals derived from the verified claims.

.. warning::

    Only the signed token is trusted. The plain ``X-Pomerium-Claim-*`` headers Pomerium
    can also send are never read here: anyone who reaches the app without going through
    Pomerium can forge them. (The tween that :func:`pyramid_pomerium.includeme` installs
    removes them from the environ as well, so views cannot trust them by accident.)

Verification is lazy and happens at most once per request: the first ``request.identity``
(or permission check) verifies the token and stores the outcome in
``environ["pomerium.identity"]`` / ``environ["pomerium.error"]``, where
:func:`pomerium_wsgi.get_identity` and :func:`pomerium_wsgi.get_error` read it too.
"""

from __future__ import annotations

import typing as t

from pyramid.authorization import ACLHelper, Authenticated, Everyone

from pomerium_wsgi import ERROR_KEY, IDENTITY_KEY, Identity, PomeriumMiddleware, get_identity
from pomerium_wsgi import ConfigurationError as CoreConfigurationError
from pomerium_wsgi.authz import normalise_email
from pomerium_wsgi.middleware import normalise_exempt, path_is_exempt
from pomerium_wsgi.settings import DEFAULT_HEADER

from .errors import ConfigurationError

#: environ key marking a request whose token this policy has already looked at: True,
#: or :data:`EXEMPTED` when an exempt path let it through unverified.
CHECKED_KEY = "pyramid_pomerium.checked"
#: The value of :data:`CHECKED_KEY` for a request an exempt path let through unverified.
EXEMPTED = "exempted"


def _unused_app(environ: t.Any, start_response: t.Any) -> list[bytes]:
    # The gate is used only for PomeriumMiddleware.authenticate(); never called.
    raise AssertionError("the pyramid_pomerium gate does not serve requests")  # pragma: no cover


def principals_for(identity: Identity | None) -> list[str]:
    """The ACL principals of *identity*.

    Always ``system.Everyone``; for a verified identity also ``system.Authenticated``,
    ``user:<sub>``, ``email:<email>`` and ``group:<name>`` for each group (as the IdP
    names it, case preserved). The address is normalised by
    :func:`pomerium_wsgi.authz.normalise_email`: ASCII letters lower-cased (IdPs differ in
    how they case addresses and an ACL entry must not silently miss), nothing else
    folded (``str.lower()`` would turn the KELVIN SIGN into ``k`` and let
    ``\u212aate@example.com`` in as ``kate@example.com``), an IDN domain as its A-label.
    """
    principals = [Everyone]
    if identity is None:
        return principals
    principals.append(Authenticated)
    if identity.subject:
        principals.append(f"user:{identity.subject}")
    if identity.email:
        principals.append(f"email:{normalise_email(identity.email)}")
    principals.extend(f"group:{group}" for group in identity.groups if group)
    return principals


class PomeriumSecurityPolicy:
    """Pyramid ``ISecurityPolicy`` backed by a verified Pomerium identity.

    :param verifier: a :class:`~pomerium_wsgi.Verifier` configured for this app.
    :param header: the request header carrying the token.
    :param exempt: path prefixes not verified: their requests have no identity, so
        views there must not need a permission (``"/healthz"`` matches ``/healthz`` and
        ``/healthz/...``, not ``/healthzz``; a path with ``.``/``..``/empty segments is
        never exempt). With ``config.include("pyramid_pomerium")``, a prefix exempts only
        views reached with an empty view name (URL dispatch routes, static views, and the
        default view of traversal resources); a *named* view reached under it
        (``/public/export``, ``/public/@@export``) is verified unless it is registered
        with ``pomerium_exempt=True``.

    ACL principals (see :func:`principals_for`): ``system.Everyone``,
    ``system.Authenticated``, ``user:<sub>``, ``email:<email>`` with the address's
    **ASCII letters lower-cased** (write ACL entries as ``email:ada@example.com``), and
    ``group:<name>`` with the group's case preserved.

    Signals ``identity_verified`` / ``verification_failed`` are sent once per verified
    request with ``request.registry`` as the ``sender``: connect with
    ``signal.connect(receiver, sender=config.registry)`` to hear one app only.

    Set by hand (``config.set_security_policy(PomeriumSecurityPolicy(verifier))``) the
    policy verifies only when something asks who the user is, which is "optional mode";
    ``config.include("pyramid_pomerium")`` adds the forbidden view that answers 401 vs
    403 and the tween that refuses unverified requests everywhere.
    """

    def __init__(
        self,
        verifier: t.Any,
        *,
        header: str = DEFAULT_HEADER,
        exempt: t.Iterable[str] | str = (),
    ) -> None:
        if not callable(getattr(verifier, "verify", None)):
            raise ConfigurationError("verifier must be a pomerium_wsgi.Verifier")
        if not isinstance(header, str) or not header.strip():
            raise ConfigurationError("header must be a header name")
        self.verifier = verifier
        self.header = header.strip()
        try:
            self.exempt = normalise_exempt(exempt)
        except CoreConfigurationError as exc:
            raise ConfigurationError(str(exc)) from None
        self.acl = ACLHelper()
        # Used only for authenticate(): verification, environ keys and signals exactly
        # as the core middleware does them (REMOTE_USER left to the app).
        self._gate = PomeriumMiddleware(_unused_app, verifier, header=self.header,
                                        remote_user=None)

    def __repr__(self) -> str:
        return f"PomeriumSecurityPolicy({self.verifier!r}, header={self.header!r})"

    def is_exempt(self, path: str) -> bool:
        """True if requests for *path* are served without verification.

        Uses the core's rule, which never exempts a path with ``.``, ``..`` or empty
        segments: traversal (and a static view) resolves them, so ``/healthz/../admin``
        must be verified like ``/admin``.
        """
        return path_is_exempt(path, self.exempt)

    # -- ISecurityPolicy ------------------------------------------------------------

    def identity(self, request: t.Any) -> Identity | None:
        """The verified identity of *request*, or None; verified once per request."""
        environ = request.environ
        if environ.get(CHECKED_KEY):
            return get_identity(environ)
        environ[CHECKED_KEY] = True
        environ[IDENTITY_KEY] = None
        environ[ERROR_KEY] = None
        if self.exempt and self.is_exempt(environ.get("PATH_INFO", "")):
            environ[CHECKED_KEY] = EXEMPTED
            return None
        return self._gate.authenticate(environ, sender=request.registry)

    def verify_exempted(self, request: t.Any) -> Identity | None:
        """Verify a request even though an exempt path let it through; once per request.

        For a named view reached under an exempt prefix (see *exempt*): the path said
        "public", the view did not.
        """
        environ = request.environ
        if self.identity(request) is not None or environ.get(CHECKED_KEY) != EXEMPTED:
            return get_identity(environ)
        environ[CHECKED_KEY] = True
        return self._gate.authenticate(environ, sender=request.registry)

    def authenticated_userid(self, request: t.Any) -> str | None:
        """The token's subject (``sub``), Pomerium's stable user id."""
        identity = self.identity(request)
        if identity is None or not identity.subject:
            return None
        return identity.subject

    def effective_principals(self, request: t.Any) -> list[str]:
        """The principals ACLs are checked against (see :func:`principals_for`)."""
        return principals_for(self.identity(request))

    def permits(self, request: t.Any, context: t.Any, permission: str) -> t.Any:
        """``ACLAllowed`` / ``ACLDenied`` for *permission* on *context*'s ACL lineage."""
        return self.acl.permits(context, self.effective_principals(request), permission)

    def remember(self, request: t.Any, userid: t.Any, **kw: t.Any) -> list[tuple[str, str]]:
        """No headers: Pomerium owns the session, the app cannot log anyone in."""
        return []

    def forget(self, request: t.Any, **kw: t.Any) -> list[tuple[str, str]]:
        """No headers: signing out happens at Pomerium (``/.pomerium/sign_out``)."""
        return []
