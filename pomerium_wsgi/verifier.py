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

from cachelib import BaseCache

from ._jose import b64url_decode, loads_object
from .casefold import ascii_lower
from .claims import check_claims
from .errors import (
    ConfigurationError,
    InvalidSignature,
    MalformedToken,
    MissingToken,
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
_HEADER_CACHE_SIZE = 64
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
        return ascii_lower(host)
    if any(c in text for c in "/?#@ \t"):
        raise ConfigurationError(f"audience {value!r} is not a host name or URL")
    return ascii_lower(text)


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

    @classmethod
    def from_env(
        cls, environ: t.Mapping[str, str] | None = None, **options: t.Any
    ) -> Verifier:
        """A verifier configured by ``POMERIUM_*`` environment variables.

        Keyword *options* are :class:`Verifier` arguments given in code; they win over the
        environment (``jwks`` and ``jwks_url`` count as one setting). Variables:
        ``POMERIUM_AUDIENCE``, ``POMERIUM_ISSUER``, ``POMERIUM_JWKS_URL``, ``POMERIUM_JWKS``
        (a file path, JWKS JSON or PEM text), ``POMERIUM_ALGORITHMS`` (comma-separated),
        ``POMERIUM_LEEWAY``, ``POMERIUM_TIMEOUT``. This is what lets one set of variables,
        such as those ``pomerium-wsgi dev`` exports, configure any app.
        """
        from .configure import VERIFIER_PARAMETERS, configure  # (configure imports us)

        unknown = set(options) - VERIFIER_PARAMETERS
        if unknown:
            raise ConfigurationError(f"unknown Verifier options: {', '.join(sorted(unknown))}")
        return configure(options, environ=environ, factory=cls,
                         label=lambda name: f"Verifier({name}=...)").verifier

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
        identity, valid_until = check_claims(
            claims, token, now, self.audiences, self.issuers, self.leeway)
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
