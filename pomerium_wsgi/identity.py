"""The verified identity a request carries.

:class:`Identity` is built once per request, on the path every request pays, so its
constructor stores the whole instance in one step (a frozen dataclass's generated
``__init__`` makes one ``object.__setattr__`` call per field), and its two datetimes are
made from the ``iat`` / ``exp`` claims when first read rather than for every request,
since most requests never read them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
from types import MappingProxyType

_NO_CLAIMS: t.Mapping[str, t.Any] = MappingProxyType({})
_object_setattr = object.__setattr__
_fromtimestamp = dt.datetime.fromtimestamp
_UTC = dt.UTC


@dataclasses.dataclass(frozen=True, init=False)
class Identity:
    """Who the request is from, as asserted by a verified Pomerium token.

    Built by :class:`~pomerium_wsgi.Verifier` after every check passed (tests may build
    their own). Its ``repr`` never shows the raw token, so logging an identity cannot
    leak a credential.
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
    claims: t.Mapping[str, t.Any] = dataclasses.field(repr=False, compare=False, hash=False)
    #: The raw JWT. Kept out of ``repr`` and comparisons: it is a bearer credential.
    token: str = dataclasses.field(repr=False, compare=False, hash=False)

    def __init__(
        self,
        subject: str,
        email: str,
        groups: tuple[str, ...],
        user: str,
        name: str,
        session_id: str,
        issuer: str,
        audience: tuple[str, ...],
        issued_at: dt.datetime | None = None,
        expires_at: dt.datetime | None = None,
        token_id: str = "",
        claims: t.Mapping[str, t.Any] = _NO_CLAIMS,
        token: str = "",
    ) -> None:
        """Every field, in order; ``issued_at`` / ``expires_at`` left out (None) are
        read from ``claims["iat"]`` / ``claims["exp"]`` (Unix times) when first used."""
        fields: dict[str, t.Any] = {
            "subject": subject, "email": email, "groups": groups, "user": user,
            "name": name, "session_id": session_id, "issuer": issuer,
            "audience": audience, "token_id": token_id, "claims": claims, "token": token,
        }
        if issued_at is not None:
            fields["issued_at"] = issued_at
        elif "iat" not in claims:
            raise TypeError("Identity needs issued_at, or an 'iat' claim to derive it from")
        if expires_at is not None:
            fields["expires_at"] = expires_at
        elif "exp" not in claims:
            raise TypeError("Identity needs expires_at, or an 'exp' claim to derive it from")
        # The instance's attributes in one store, past the frozen __setattr__.
        _object_setattr(self, "__dict__", fields)

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


class _TimeFromClaim:
    """``issued_at`` / ``expires_at`` of an Identity built without them: the datetime is
    made from the Unix time in ``claims[claim]`` on first read and kept on the instance.

    A non-data descriptor, so a value given to the constructor (in the instance's
    ``__dict__``) always wins over it.
    """

    def __init__(self, field: str, claim: str) -> None:
        self.field = field
        self.claim = claim

    @t.overload
    def __get__(self, identity: None, owner: type | None = None) -> _TimeFromClaim: ...
    @t.overload
    def __get__(self, identity: Identity, owner: type | None = None) -> dt.datetime: ...

    def __get__(
        self, identity: Identity | None, owner: type | None = None
    ) -> dt.datetime | _TimeFromClaim:
        if identity is None:
            return self
        value = _fromtimestamp(identity.claims[self.claim], _UTC)
        identity.__dict__[self.field] = value  # the same value whichever thread stores it
        return value


# Set after the dataclass is made, so that dataclasses.fields() still shows two plain
# fields without defaults.
setattr(Identity, "issued_at", _TimeFromClaim("issued_at", "iat"))  # noqa: B010
setattr(Identity, "expires_at", _TimeFromClaim("expires_at", "exp"))  # noqa: B010
