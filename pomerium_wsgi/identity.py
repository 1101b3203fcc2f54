"""The verified identity a request carries."""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
from types import MappingProxyType


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """Who the request is from, as asserted by a verified Pomerium token.

    Built only by :class:`~pomerium_wsgi.Verifier` after every check passed. Its
    ``repr`` never shows the raw token, so logging an identity cannot leak a credential.
    """

    #: ``sub``: the IdP's stable user id (Pomerium sets ``sub == user``).
    subject: str
    #: ``email``; an empty string when the IdP gave none.
    email: str
    #: ``groups``, as a tuple (Pomerium may send an empty list or, in old versions, null).
    groups: tuple[str, ...]
    #: ``user``: Pomerium's user id (equal to ``subject``).
    user: str
    #: ``name``: display name; may be a comma-joined string.
    name: str
    #: ``sid``: Pomerium session id.
    session_id: str
    #: ``iss``.
    issuer: str
    #: ``aud`` as a tuple of strings.
    audience: tuple[str, ...]
    #: ``iat`` as an aware UTC datetime.
    issued_at: dt.datetime
    #: ``exp`` as an aware UTC datetime.
    expires_at: dt.datetime
    #: ``jti``: unique per token.
    token_id: str
    #: The whole verified payload, read-only (extra ``jwt_claims_headers`` claims too).
    claims: t.Mapping[str, t.Any] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False, hash=False
    )
    #: The raw JWT. Kept out of ``repr`` and comparisons: it is a bearer credential.
    token: str = dataclasses.field(default="", repr=False, compare=False, hash=False)

    def in_group(self, *names: str) -> bool:
        """True if the identity is in *any* of the groups named."""
        groups = self.groups
        return any(name in groups for name in names)

    def in_all_groups(self, *names: str) -> bool:
        """True if the identity is in *every* group named (and at least one is named)."""
        groups = self.groups
        return bool(names) and all(name in groups for name in names)

    def __str__(self) -> str:
        return self.email or self.subject
