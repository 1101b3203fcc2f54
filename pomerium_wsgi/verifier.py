"""Verifier: a Pomerium JWT in, an :class:`~pomerium_wsgi.Identity` out (or an exception).

The per-request path is kept lean because Pomerium mints a fresh token for every request,
so every request pays one cold verification:

* the header segment is the same for every token one key signs, so its decoded
  ``(alg, kid)`` is memoised by segment text (bounded);
* keys are decoded once per JWKS document and looked up by kid without a lock;
* claim expectations (audiences, issuers) are precomputed sets;
* the identity's datetimes are made only if read (see :mod:`pomerium_wsgi.identity`);
* optionally (``token_cache_size``, off by default since Pomerium never repeats a
  token), an exact repeat of a token already verified is answered from a bounded LRU
  cache whose entries die at the token's ``exp`` and whenever the key set changes.

Every failure is a :class:`~pomerium_wsgi.errors.VerificationError` subclass; nothing
else escapes, whatever the input.
"""

from __future__ import annotations

import time
import typing as t
import urllib.parse
from collections import OrderedDict
from types import MappingProxyType

from cachelib import BaseCache

from ._jose import b64url_decode, loads_object
from .errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    InvalidSignature,
    MalformedToken,
    MissingToken,
    TokenExpired,
    TokenNotYetValid,
    VerificationError,
)
from .identity import Identity
from .keys import (
    MAX_KID_LENGTH,
    SUPPORTED_ALGORITHMS,
    KeySource,
    RemoteJWKS,
    StaticKeys,
)

#: Tokens longer than this (characters) are refused before any decoding.
DEFAULT_MAX_TOKEN_SIZE = 64 * 1024
#: Latest timestamp accepted in a time claim (end of year 9999, datetime's limit).
_MAX_TIMESTAMP = 253402300799
_HEADER_CACHE_SIZE = 64
_NUMBER_TYPES = frozenset({int, float})
# Header members that change how a JWS must be processed; we implement none of them.
_REFUSED_HEADER_MEMBERS = ("crit", "b64", "zip", "enc")


def normalise_audience(value: str) -> str:
    """``https://App.example.com/x`` or ``app.example.com`` -> ``app.example.com``."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError("audience must be a non-empty host name or URL")
    text = value.strip()
    if "://" in text:
        parts = urllib.parse.urlsplit(text)
        if not parts.hostname:
            raise ConfigurationError(f"audience {value!r} has no host")
        host = parts.hostname
        if parts.port and not (
            (parts.scheme == "https" and parts.port == 443)
            or (parts.scheme == "http" and parts.port == 80)
        ):
            host = f"{host}:{parts.port}"
        return host.lower()
    if any(c in text for c in "/?#@ \t"):
        raise ConfigurationError(f"audience {value!r} is not a host name or URL")
    return text.lower()


def _as_tuple(value: str | t.Iterable[str], name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise ConfigurationError(f"{name} must be a string or a list of strings") from None
    if not all(isinstance(item, str) for item in items):
        raise ConfigurationError(f"{name} must be a string or a list of strings")
    return items


class Verifier:
    """Verify Pomerium identity tokens for one application (one or several hosts).

    :param audience: this app's host as Pomerium routes to it (``"app.example.com"``),
        or its URL (normalised to the host), or several of them. Required: a token
        minted for another route of the same Pomerium must be refused.
    :param issuer: accepted ``iss`` values. Default: for each audience host, ``HOST``
        and ``https://HOST/`` (Pomerium's two ``jwt_issuer_format`` styles).
    :param jwks_url: where to fetch keys. Default
        ``https://<first audience>/.well-known/pomerium/jwks.json``.
    :param jwks: static keys instead of a URL: a JWKS dict or JSON text, or PEM text with
        one or more public keys.
    :param algorithms: accepted algorithms, a subset of ``("ES256", "RS256")``.
    :param leeway: seconds of clock skew tolerated on ``exp``, ``iat`` and ``nbf``.
    :param cache: a cachelib cache for fetched JWKS documents (``RedisCache`` shares keys
        across workers and hosts). Default: in-process.
    :param timeout: JWKS HTTP timeout in seconds.
    :param cooldown: an unknown ``kid`` refetches the JWKS at most once per this long.
    :param retry_interval: after a failed JWKS fetch, wait this long before retrying.
    :param max_stale: keep serving expired keys this long while the JWKS endpoint fails.
    :param max_token_size: longest token accepted, in characters.
    :param token_cache_size: how many verified tokens to remember, answering an exact
        repeat without checking it again. Off (0) by default: Pomerium mints a new token
        for every request, so behind Pomerium the cache never answers and would only
        cost time. Turn it on (e.g. 256) where clients send the same token repeatedly.
    :param clock: returns the current Unix time; for tests.
    """

    def __init__(
        self,
        audience: str | t.Iterable[str] | None = None,
        *,
        issuer: str | t.Iterable[str] | None = None,
        jwks_url: str | None = None,
        jwks: t.Any = None,
        algorithms: str | t.Iterable[str] = SUPPORTED_ALGORITHMS,
        leeway: float = 30,
        cache: BaseCache | None = None,
        timeout: float = 5.0,
        cooldown: float = 30.0,
        retry_interval: float = 5.0,
        max_stale: float = 3600.0,
        max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
        token_cache_size: int = 0,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        if audience is None:
            raise ConfigurationError(
                "audience is required: pass this app's host as Pomerium routes to it, "
                "e.g. Verifier('app.example.com')"
            )
        hosts = tuple(dict.fromkeys(normalise_audience(a) for a in _as_tuple(audience, "audience")))
        if not hosts:
            raise ConfigurationError("audience must name at least one host")
        self.audiences: frozenset[str] = frozenset(hosts)

        if issuer is None:
            issuers = tuple(i for h in hosts for i in (h, f"https://{h}/"))
        else:
            issuers = _as_tuple(issuer, "issuer")
            if not issuers or not all(issuers):
                raise ConfigurationError("issuer must be a non-empty string or list of strings")
        self.issuers: frozenset[str] = frozenset(issuers)

        algs = _as_tuple(algorithms, "algorithms")
        if not algs:
            raise ConfigurationError("algorithms must name at least one algorithm")
        for alg in algs:
            if alg not in SUPPORTED_ALGORITHMS:
                raise ConfigurationError(
                    f"algorithm {alg!r} is not accepted: Pomerium signs with ES256 or RS256 "
                    "only ('none' and HMAC algorithms are never accepted)"
                )
        self.algorithms: frozenset[str] = frozenset(algs)

        if isinstance(leeway, bool) or not isinstance(leeway, int | float) or not (
            0 <= leeway <= 300
        ):
            raise ConfigurationError("leeway must be a number of seconds from 0 to 300")
        self.leeway = float(leeway)
        if isinstance(max_token_size, bool) or not isinstance(max_token_size, int) or (
            max_token_size < 256
        ):
            raise ConfigurationError("max_token_size must be an integer of at least 256")
        self.max_token_size = max_token_size
        if isinstance(token_cache_size, bool) or not isinstance(token_cache_size, int) or (
            token_cache_size < 0
        ):
            raise ConfigurationError("token_cache_size must be a non-negative integer")
        self.token_cache_size = token_cache_size
        self.clock = clock

        self.keys: KeySource
        if jwks is not None and jwks_url is not None:
            raise ConfigurationError("give either jwks (static keys) or jwks_url, not both")
        if jwks is not None:
            self.keys = StaticKeys.load(jwks)
        else:
            url = jwks_url or f"https://{hosts[0]}/.well-known/pomerium/jwks.json"
            self.keys = RemoteJWKS(
                url,
                cache=cache,
                timeout=timeout,
                cooldown=cooldown,
                retry_interval=retry_interval,
                max_stale=max_stale,
                clock=clock,
            )
        self._headers: dict[str, tuple[str, str]] = {}
        # signature segment -> (token, identity, valid until, key generation)
        self._verified: OrderedDict[str, tuple[str, Identity, float, int]] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"Verifier(audience={sorted(self.audiences)!r}, keys={self.keys!r}, "
            f"algorithms={sorted(self.algorithms)!r})"
        )

    # -- verification ------------------------------------------------------------------

    def verify(self, token: str | bytes | None) -> Identity:
        """Verify *token* and return the identity it asserts.

        :raises VerificationError: a subclass naming the failed check. Nothing else is
            raised, whatever *token* is.
        """
        if type(token) is not str:
            try:
                token = self._as_text(token)
            except VerificationError:
                raise
            except Exception:  # a subclass whose methods raise: still a clean refusal
                raise MalformedToken("the identity token is not text") from None
        if not token:
            raise MissingToken()
        if len(token) > self.max_token_size:
            raise MalformedToken("the identity token is too large")
        if not token.isascii():
            raise MalformedToken("the identity token is not ASCII")

        now = self.clock()
        last = token.rfind(".")
        signature_segment = token[last + 1 :]
        if self.token_cache_size:
            # The cache is found by the signature segment (a fresh str hashes all its
            # characters: a 10 KB token would cost more to hash than its entry is worth)
            # but an entry answers only the very same token: a forged payload under a
            # remembered signature compares unequal and is verified, and fails, as usual.
            remembered = self._verified.get(signature_segment)
            if remembered is not None:
                remembered_token, identity, valid_until, generation = remembered
                if remembered_token == token:
                    if now <= valid_until and generation == self.keys.generation:
                        try:  # noqa: SIM105 - least recently used goes first
                            self._verified.move_to_end(signature_segment)
                        except KeyError:  # evicted by another thread meanwhile
                            pass
                        return identity
                    self._verified.pop(signature_segment, None)

        try:
            return self._verify(token, last, signature_segment, now)
        except VerificationError:
            raise
        except Exception:  # pragma: no cover - a bug; still never a 500 or a crash
            raise MalformedToken() from None

    def _as_text(self, token: object) -> str:
        """A token that is not a plain str: None, bytes-like (checked), or refused.

        Subclasses are read through the base types' own methods, never their overrides
        (``str(token)`` would call a subclass's ``__str__``, ``bytes(token)`` its
        ``__bytes__``).
        """
        if token is None:
            raise MissingToken()
        if isinstance(token, str):
            return str.__str__(token)  # a plain str copy
        if isinstance(token, bytes | bytearray):
            view = memoryview(token)  # the buffer protocol cannot be overridden in Python
            if view.nbytes > self.max_token_size:
                raise MalformedToken("the identity token is too large")
            raw = view.tobytes()
            if not raw.isascii():
                # Checked rather than caught: a UnicodeDecodeError would carry the whole
                # token as the __context__ of the error raised.
                raise MalformedToken("the identity token is not ASCII")
            return raw.decode("ascii")
        raise MalformedToken("the identity token is not text")

    def _verify(self, token: str, last: int, signature_segment: str, now: float) -> Identity:
        """Verify *token* in full; *last* is its last dot, *signature_segment* what follows."""
        first = token.find(".")
        if first <= 0 or first == last or token.find(".", first + 1) != last:
            raise MalformedToken("the identity token is not a compact JWS (three segments)")
        header_segment = token[:first]
        header = self._headers.get(header_segment)
        if header is None:
            header = self._parse_header(header_segment)
        alg, kid = header
        # Read before get(): if the keys change meanwhile (here or in another thread),
        # the entry cached below is already stale and the token is verified again next
        # time. Read after, a token checked with a key just removed could outlive it.
        generation = self.keys.generation
        key = self.keys.get(kid)
        if key.algorithm != alg:
            raise InvalidSignature(
                f"the token says {alg} but its key is for {key.algorithm}"
            )
        payload = b64url_decode(token[first + 1 : last], "payload")
        signature = b64url_decode(signature_segment, "signature")
        if not key.verify(token[:last].encode("ascii"), signature):
            raise InvalidSignature()
        # The payload is parsed only once its signature is known to be good.
        claims = loads_object(payload, "payload")
        identity, valid_until = self._check_claims(claims, token, now)
        if self.token_cache_size:
            verified = self._verified
            while len(verified) >= self.token_cache_size:  # (threads may race past it)
                # Evict the least recently used entry: O(1) in OrderedDict (a plain
                # dict's first key gets slower to find as deletions pile up). A racing
                # thread may have emptied it already. (Not contextlib.suppress: that is
                # three Python calls on every fresh token.)
                try:  # noqa: SIM105
                    verified.popitem(last=False)
                except KeyError:
                    pass
            # (The same str the lookup hashed: its hash is cached, not computed again.)
            verified[signature_segment] = (token, identity, valid_until, generation)
        return identity

    def _parse_header(self, segment: str) -> tuple[str, str]:
        header = loads_object(b64url_decode(segment, "header"), "header")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise MalformedToken("the token header has no algorithm")
        if alg not in self.algorithms:
            # Covers 'none' in any casing, HMAC and every other algorithm.
            raise InvalidSignature("the token's algorithm is not allowed")
        for member in _REFUSED_HEADER_MEMBERS:
            if member in header:
                raise MalformedToken(f"the token header member {member!r} is not supported")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise MalformedToken("the token header 'typ' is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise MalformedToken("the token header has no usable 'kid'")
        # jku, x5u, x5c and jwk are ignored: keys never come from the token.
        result = (alg, kid)
        if len(self._headers) >= _HEADER_CACHE_SIZE:
            self._headers.clear()
        self._headers[segment] = result
        return result

    def _check_claims(
        self, claims: dict[str, t.Any], token: str, now: float
    ) -> tuple[Identity, float]:
        """The payload's claims -> (identity, time its token stops being valid).

        When several checks fail, the refusal names the one that says most about the
        cause: claims of a wrong type first (the token is not what Pomerium makes), then
        audience (a token for another route of the same Pomerium has the other host as
        both ``aud`` and ``iss``: the audience is the cause), issuer, times, and last
        the claims that are missing.
        """
        get = claims.get
        exp: t.Any = get("exp")
        iat: t.Any = get("iat")
        nbf: t.Any = get("nbf")
        # type() rather than isinstance(): bool is an int subclass and must not pass.
        # The range checks also refuse NaN and infinities (every comparison is False).
        if type(exp) not in _NUMBER_TYPES or type(iat) not in _NUMBER_TYPES:
            raise InvalidClaims("the token's 'exp' and 'iat' must be numbers")
        if not (0 <= iat <= _MAX_TIMESTAMP and 0 <= exp <= _MAX_TIMESTAMP):
            raise InvalidClaims("the token's 'exp' or 'iat' is out of range")
        if "nbf" in claims and (
            type(nbf) not in _NUMBER_TYPES or not 0 <= nbf <= _MAX_TIMESTAMP
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
        audiences = self.audiences
        if type(aud) is str:
            audience: tuple[str, ...] = (aud,)
            if aud.lower() not in audiences:
                raise InvalidAudience()
        elif type(aud) is list and aud and _all_strings(aud):
            audience = tuple(aud)
            if not any(a.lower() in audiences for a in audience):
                raise InvalidAudience()
        else:
            raise InvalidAudience("the token's 'aud' is missing or not a string")

        iss = get("iss")
        if type(iss) is not str or iss not in self.issuers:
            raise InvalidIssuer()

        leeway = self.leeway
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
