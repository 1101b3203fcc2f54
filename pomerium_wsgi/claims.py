"""Claims: a verified payload's claims in, an :class:`~pomerium_wsgi.Identity` out.

Pomerium's claims have fixed shapes (DESIGN: ``iss, aud, jti, iat, exp, sub, user, email,
groups, sid, name``; ``groups`` a list, or ``null`` from old versions; no ``nbf``, honoured
where present), so each is checked by exact type. When several checks fail, the refusal
names the one that says most about the cause: claims of a wrong type first (the token is
not what Pomerium makes), then audience (a token for another route of the same Pomerium
has the other host as both ``aud`` and ``iss``: the audience is the cause), issuer,
times, and last the claims that are missing. Runs once per request, so it is one plain
function over precomputed sets.
"""

from __future__ import annotations

import typing as t
from types import MappingProxyType

from .casefold import ascii_lower
from .errors import (
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    TokenExpired,
    TokenNotYetValid,
)
from .identity import Identity

#: Latest timestamp accepted in a time claim (end of year 9999, datetime's limit).
MAX_TIMESTAMP = 253402300799
_NUMBER_TYPES = frozenset({int, float})


def check_claims(
    claims: dict[str, t.Any],
    token: str,
    now: float,
    audiences: frozenset[str],
    issuers: frozenset[str],
    leeway: float,
) -> tuple[Identity, float]:
    """The payload's *claims* -> (identity, time its token stops being valid).

    *audiences* are lower-case hosts; a token's ``aud`` is compared with only its ASCII
    letters folded (``str.lower`` would turn the KELVIN SIGN into ``k``). Raises the
    :class:`~pomerium_wsgi.errors.VerificationError` subclass of the first failing check
    in the order of precedence above.
    """
    get = claims.get
    exp: t.Any = get("exp")
    iat: t.Any = get("iat")
    nbf: t.Any = get("nbf")
    # type() rather than isinstance(): bool is an int subclass and must not pass.
    # The range checks also refuse NaN and infinities (every comparison is False).
    if type(exp) not in _NUMBER_TYPES or type(iat) not in _NUMBER_TYPES:
        raise InvalidClaims("the token's 'exp' and 'iat' must be numbers")
    if not (0 <= iat <= MAX_TIMESTAMP and 0 <= exp <= MAX_TIMESTAMP):
        raise InvalidClaims("the token's 'exp' or 'iat' is out of range")
    if "nbf" in claims and (
        type(nbf) not in _NUMBER_TYPES or not 0 <= nbf <= MAX_TIMESTAMP
    ):
        raise InvalidClaims("the token's 'nbf' is not a valid time")
    groups = get("groups")
    if groups is None:
        group_tuple: tuple[str, ...] = ()
    elif type(groups) is list and _all_strings(groups):
        group_tuple = tuple(groups)
    else:
        raise InvalidClaims("the token's 'groups' is not a list of strings")
    sub = get("sub")
    if sub is not None and type(sub) is not str:
        raise InvalidClaims("the token's 'sub' is not a string")
    email = get("email")
    name = get("name")
    if email is None:
        email = ""
    if name is None:
        name = ""
    user = get("user", sub)
    sid = get("sid", "")
    jti = get("jti", "")
    if not (type(email) is str and type(name) is str and type(sid) is str
            and type(jti) is str and (user is None or type(user) is str)):
        raise InvalidClaims("the token's 'email', 'user', 'name', 'sid' and 'jti' must be "
                            "strings")

    aud = get("aud")
    if type(aud) is str:
        audience: tuple[str, ...] = (aud,)
        if ascii_lower(aud) not in audiences:
            raise InvalidAudience()
    elif type(aud) is list and aud and _all_strings(aud):
        audience = tuple(aud)
        if not any(ascii_lower(a) in audiences for a in audience):
            raise InvalidAudience()
    else:
        raise InvalidAudience("the token's 'aud' is missing or not a string")

    iss = get("iss")
    if type(iss) is not str or iss not in issuers:
        raise InvalidIssuer()

    if now > exp + leeway:
        raise TokenExpired()
    if iat > now + leeway or (nbf is not None and nbf > now + leeway):
        raise TokenNotYetValid()

    if not sub or user is None:  # (user is None only where sub is: absent or null)
        raise InvalidClaims("the token's 'sub' (or 'user') is missing")
    identity = Identity(
        sub, email, group_tuple, user, name, sid, iss, audience,
        None, None, jti, MappingProxyType(claims), token,
    )  # (issued_at and expires_at are made from 'iat' and 'exp' when read)
    return identity, exp + leeway


def _all_strings(items: list[t.Any]) -> bool:
    """True if every item is a str (str.join checks that at C speed)."""
    try:
        "".join(items)
    except TypeError:
        return False
    return True
