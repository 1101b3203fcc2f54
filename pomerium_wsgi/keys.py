"""Pomerium's signing keys: parse, fetch, cache, rotate.

Security rules kept here (see README "Security"):

* Keys come only from configuration: a static JWKS / PEM, or the JWKS URL the operator
  configured. Nothing in a token (``jku``, ``x5u``, ``jwk``, ``iss``) ever decides where
  keys are fetched from.
* Each key is bound to one algorithm when it is loaded: ES256 only with an EC P-256 key,
  RS256 only with an RSA key of at least 2048 bits. Keys that cannot verify (``use:
  enc``, ``key_ops`` without ``verify``, other curves, short RSA) are skipped with a log
  line; so is a key published with its private members (anyone could sign with it); a
  ``kid`` published twice is refused outright.
* A fetched JWKS lives for its ``Cache-Control: max-age`` (clamped), is revalidated with
  ``ETag``, and the last good document keeps serving for a bounded time when the endpoint
  fails. An unknown ``kid`` causes at most one refetch per cooldown, and only one fetch
  runs at a time per process; the others wait for it.
* The shared cache holds the JWKS *JSON text* (never key objects), so a fleet of workers
  sharing a cachelib ``RedisCache`` fetches about once per ``max-age``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import ipaddress
import json
import logging
import math
import re
import threading
import time
import typing as t
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from http.client import HTTPMessage

from cachelib import BaseCache, SimpleCache
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.jwk import ECKey, RSAKey

from ._jose import b64url_decode
from .errors import (
    ConfigurationError,
    FetchRequired,
    KeysUnavailable,
    UnknownKey,
    VerificationError,
)
from .signals import keys_refresh_failed, keys_refreshed, send_safely

log = logging.getLogger("pomerium_wsgi.keys")

#: The algorithms Pomerium signs with, and the only ones this library will ever accept.
SUPPORTED_ALGORITHMS = ("ES256", "RS256")
MIN_RSA_BITS = 2048
#: At most this many keys are read from one JWKS document.
MAX_KEYS = 64
#: The longest ``kid`` accepted (Pomerium's are 64 hex characters).
MAX_KID_LENGTH = 256

# True inside no_fetch(): RemoteJWKS.get raises FetchRequired instead of blocking.
_NO_FETCH: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pomerium_wsgi_no_fetch", default=False
)


class no_fetch:  # lower case: used like a function, ``with no_fetch(): ...``
    """Within this block, a key lookup that would fetch or wait raises FetchRequired.

    For callers on an event loop: verification runs inline when the keys are at hand,
    and goes to a worker thread (outside this block) only when the network is needed.
    A context variable, so it holds for this thread or task only. A class rather than a
    generator-based context manager: it is entered on every request of an ASGI app.
    """

    __slots__ = ("_reset",)
    _reset: contextvars.Token[bool]

    def __enter__(self) -> None:
        self._reset = _NO_FETCH.set(True)

    def __exit__(self, *exc_info: object) -> None:
        _NO_FETCH.reset(self._reset)


_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_DIRECTIVE = re.compile(r'(?:[^,"]|"[^"]*")+')


def _directives(header: str) -> list[str]:
    """Split a Cache-Control value on commas that are not inside quotes."""
    return [d.strip().rstrip(";").strip() for d in _DIRECTIVE.findall(header) if d.strip()]


class JWKSError(ValueError):
    """A JWKS document (or PEM text) could not be used."""


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """One public key, bound to the one algorithm it may verify."""

    kid: str
    algorithm: str
    #: The joserfc key object (public part only).
    jwk: ECKey | RSAKey
    #: The ``cryptography`` public key inside *jwk*, taken out once: one attribute
    #: lookup per request instead of a chain through joserfc's key classes.
    public_key: t.Any = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_key", self.jwk.public_key)

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Check *signature* over *signing_input* with this key and its algorithm.

        The same OpenSSL call joserfc's ES256 / RS256 make, on the key joserfc loaded
        and validated, without per-call setup: this runs on every request.
        """
        try:
            if self.algorithm == "ES256":
                # JWS carries ECDSA as raw r || s, 32 bytes each; OpenSSL wants DER.
                if len(signature) != 64:
                    return False
                self.public_key.verify(
                    encode_dss_signature(
                        int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
                    ),
                    signing_input,
                    _ECDSA_SHA256,
                )
            else:
                self.public_key.verify(signature, signing_input, _PKCS1V15, _SHA256)
        except InvalidSignature:
            return False
        return True

    def public_jwk(self) -> dict[str, t.Any]:
        """This key as a public JWK dict, as Pomerium publishes it."""
        data = dict(self.jwk.as_dict(private=False))
        for member in ("key_ops", "use", "alg", "kid"):
            data.pop(member, None)
        return {**data, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def __repr__(self) -> str:
        return f"VerificationKey(kid={self.kid!r}, algorithm={self.algorithm!r})"


def pomerium_kid(public_jwk: t.Mapping[str, t.Any]) -> str:
    """The ``kid`` Pomerium gives a key: lowercase hex SHA-256 RFC 7638 thumbprint."""
    kty = public_jwk["kty"]
    members = ("crv", "kty", "x", "y") if kty == "EC" else ("e", "kty", "n")
    canonical = json.dumps(
        {m: public_jwk[m] for m in members}, separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _import_public(entry: t.Mapping[str, t.Any]) -> tuple[str, ECKey | RSAKey]:
    """Bind a JWK dict to its algorithm, or raise JWKSError saying why it is unusable."""
    kty = entry.get("kty")
    alg = entry.get("alg")
    use = entry.get("use")
    if use is not None and use != "sig":
        raise JWKSError(f"use is {use!r}, not 'sig'")
    ops = entry.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise JWKSError("key_ops does not allow 'verify'")
    if kty == "EC":
        if entry.get("crv") != "P-256":
            raise JWKSError(f"curve {entry.get('crv')!r} is not P-256")
        if alg not in (None, "ES256"):
            raise JWKSError(f"alg {alg!r} does not match an EC P-256 key")
        members: tuple[str, ...] = ("kty", "crv", "x", "y")
        algorithm = "ES256"
    elif kty == "RSA":
        if alg not in (None, "RS256"):
            raise JWKSError(f"alg {alg!r} does not match an RSA key")
        members = ("kty", "n", "e")
        algorithm = "RS256"
    else:
        raise JWKSError(f"key type {kty!r} is not supported")
    public: dict[str, t.Any] = {}
    for member in members:
        value = entry.get(member)
        if not isinstance(value, str) or not value:
            raise JWKSError(f"member {member!r} is missing or not a string")
        public[member] = value
    if kty == "RSA":
        # Checked before import: joserfc would only warn about a short key.
        try:
            size = int.from_bytes(b64url_decode(public["n"], "RSA modulus")).bit_length()
        except VerificationError:
            raise JWKSError("member 'n' is not base64url") from None
        if size < MIN_RSA_BITS:
            raise JWKSError(f"RSA key of {size} bits is under {MIN_RSA_BITS}")
    try:
        key: ECKey | RSAKey = (ECKey if kty == "EC" else RSAKey).import_key(public)
    except Exception as exc:  # joserfc / cryptography raise many types for bad points
        raise JWKSError(f"the key does not load ({type(exc).__name__})") from None
    return algorithm, key


def parse_jwks(document: t.Any, *, source: str = "JWKS") -> dict[str, VerificationKey]:
    """Parse a JWKS (dict, or JSON text / bytes) into usable keys by kid.

    Unusable keys are skipped with a warning. A ``kid`` that appears on more than one
    key is refused for every key carrying it (a token naming it would be ambiguous).
    ``{"keys": null}`` (Pomerium with no keys) gives an empty mapping.

    :raises JWKSError: the document is not a JWKS at all.
    """
    if isinstance(document, bytes | str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            raise JWKSError(f"{source} is not valid JSON") from None
    if not isinstance(document, dict) or "keys" not in document:
        raise JWKSError(f"{source} is not a JSON object with a 'keys' member")
    entries = document["keys"]
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise JWKSError(f"{source}: 'keys' is not a list")
    keys: dict[str, VerificationKey] = {}
    # A kid published twice is ambiguous even if one of its keys is unusable.
    kids = [e.get("kid") for e in entries[:MAX_KEYS] if isinstance(e, dict)]
    seen: set[str] = {k for k in kids if isinstance(k, str) and kids.count(k) > 1}
    for dup in seen:
        log.error("%s: kid %r is published more than once; refusing it", source, dup[:80])
    for index, entry in enumerate(entries[:MAX_KEYS]):
        if not isinstance(entry, dict):
            log.warning("%s: key #%d is not an object; skipped", source, index)
            continue
        if _PRIVATE_MEMBERS.intersection(entry):
            # A private key published in a JWKS is known to anyone who fetched it: tokens
            # signed with it prove nothing, so the key is not trusted at all.
            log.error("%s: key #%d publishes private key members; skipped (rotate it)",
                      source, index)
            continue
        try:
            algorithm, jwk = _import_public(entry)
        except JWKSError as exc:
            log.warning("%s: key #%d skipped: %s", source, index, exc)
            continue
        kid = entry.get("kid")
        if kid is None:
            kid = pomerium_kid(jwk.as_dict(private=False))
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            log.warning("%s: key #%d has an unusable kid; skipped", source, index)
            continue
        if kid in seen or kid in keys:  # (computed kids can collide too)
            keys.pop(kid, None)
            seen.add(kid)
            continue
        keys[kid] = VerificationKey(kid, algorithm, jwk)
    if len(entries) > MAX_KEYS:
        log.warning("%s: only the first %d of %d keys are read", source, MAX_KEYS, len(entries))
    return keys


_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z ]+)-----\s.*?-----END \1-----", re.DOTALL
)


def parse_pem(text: str | bytes) -> dict[str, VerificationKey]:
    """Load public keys (or the public half of private keys) from PEM text.

    Each key gets Pomerium's kid, so tokens signed by the matching Pomerium
    ``signing_key`` find it.
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    keys: dict[str, VerificationKey] = {}
    for match in _PEM_BLOCK.finditer(text):
        block = match.group(0).encode("ascii", "replace")
        label = match.group(1)
        try:
            if "PRIVATE" in label:
                public: t.Any = serialization.load_pem_private_key(block, None).public_key()
            else:
                public = serialization.load_pem_public_key(block)
        except Exception as exc:
            raise JWKSError(f"PEM block {label!r} does not load: {type(exc).__name__}") from None
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk: ECKey | RSAKey = ECKey.import_key(public)
        elif isinstance(public, rsa.RSAPublicKey):
            jwk = RSAKey.import_key(public)
        else:
            raise JWKSError(f"PEM block {label!r} is not an EC or RSA key")
        entry = dict(jwk.as_dict(private=False))
        algorithm, jwk = _import_public(entry)
        kid = pomerium_kid(entry)
        keys[kid] = VerificationKey(kid, algorithm, jwk)
    if not keys:
        raise JWKSError("no PEM key found")
    return keys


class KeySource(t.Protocol):
    """Where a Verifier gets keys: :class:`StaticKeys` or :class:`RemoteJWKS`."""

    #: Changes whenever the set of keys changes (verified-token caches key on it).
    generation: int

    def get(self, kid: str) -> VerificationKey:
        """The key for *kid*; raises UnknownKey or KeysUnavailable."""
        ...


class StaticKeys:
    """A fixed set of keys given in configuration (JWKS dict / JSON text, or PEM)."""

    generation = 0

    def __init__(self, keys: t.Mapping[str, VerificationKey]) -> None:
        self.keys = dict(keys)

    @classmethod
    def load(cls, jwks: t.Any) -> StaticKeys:
        """From a JWKS dict, JWKS JSON text, or PEM text; ConfigurationError if unusable."""
        try:
            if isinstance(jwks, str | bytes) and b"-----BEGIN" in (
                jwks if isinstance(jwks, bytes) else jwks.encode("utf-8", "replace")
            ):
                keys = parse_pem(jwks)
            else:
                keys = parse_jwks(jwks, source="jwks setting")
        except JWKSError as exc:
            raise ConfigurationError(f"jwks: {exc}") from None
        if not keys:
            raise ConfigurationError("jwks: no usable key (see the log for why each was skipped)")
        return cls(keys)

    def get(self, kid: str) -> VerificationKey:
        key = self.keys.get(kid)
        if key is None:
            raise UnknownKey()
        return key

    def __repr__(self) -> str:
        return f"StaticKeys(kids={sorted(self.keys)!r})"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_jwks_url(url: str) -> str:
    """Validate a configured JWKS URL: https, or http to a loopback host only."""
    if not isinstance(url, str):
        raise ConfigurationError("jwks_url must be a string")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"jwks_url {url!r} is not an absolute https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"jwks_url {url!r} uses plain http to a non-loopback host; use https "
            "(keys fetched in the clear could be replaced by anyone on the path)"
        )
    if parts.username or parts.password:
        raise ConfigurationError("jwks_url must not carry credentials")
    return url


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port, and only a few."""

    max_redirections = 3

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: t.IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        old = urllib.parse.urlsplit(req.full_url)
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise urllib.error.HTTPError(
                req.full_url, code, "redirect to another origin refused", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclasses.dataclass(frozen=True, slots=True)
class _KeyState:
    keys: t.Mapping[str, VerificationKey]
    document: str
    etag: str | None
    fetched_at: float
    expires_at: float


class RemoteJWKS:
    """Keys fetched from a JWKS URL and kept fresh.

    :param url: the JWKS URL (https, or http to loopback).
    :param cache: a cachelib cache shared by workers (default: an in-process
        ``SimpleCache``). It holds the JWKS JSON text and its metadata only.
    :param timeout: seconds for the whole fetch (connect, headers and body).
    :param cooldown: an unknown ``kid`` refetches at most once per this many seconds.
    :param retry_interval: after a failed fetch, wait this long before the next try.
    :param max_stale: serve the last good keys this long past their expiry while the
        endpoint fails; after that, answer 503.
    :param min_age, max_age: bounds for the response's ``max-age``.
    :param default_age: lifetime when the response gives no ``max-age``.
    :param max_size: largest JWKS body accepted, in bytes.
    """

    def __init__(
        self,
        url: str,
        *,
        cache: BaseCache | None = None,
        timeout: float = 5.0,
        cooldown: float = 30.0,
        retry_interval: float = 5.0,
        max_stale: float = 3600.0,
        min_age: float = 5.0,
        max_age: float = 86400.0,
        default_age: float = 300.0,
        max_size: int = 512 * 1024,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        self.url = check_jwks_url(url)
        if cache is None:
            cache = SimpleCache(threshold=16)
        if not isinstance(cache, BaseCache):
            raise ConfigurationError("cache must be a cachelib BaseCache (e.g. RedisCache)")
        for name, value in (("timeout", timeout), ("cooldown", cooldown),
                            ("retry_interval", retry_interval), ("max_stale", max_stale),
                            ("min_age", min_age), ("max_age", max_age),
                            ("default_age", default_age), ("max_size", max_size)):
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or value < 0):
                raise ConfigurationError(f"{name} must be a non-negative number, not {value!r}")
        if timeout <= 0:
            raise ConfigurationError("timeout must be positive")
        if min_age > max_age:
            raise ConfigurationError("min_age must not exceed max_age")
        self.cache = cache
        self.timeout = float(timeout)
        self.cooldown = float(cooldown)
        self.retry_interval = float(retry_interval)
        self.max_stale = float(max_stale)
        self.min_age = float(min_age)
        self.max_age = float(max_age)
        self.default_age = float(default_age)
        self.max_size = int(max_size)
        self.clock = clock
        self.cache_key = "pomerium_wsgi:jwks:" + hashlib.sha256(url.encode()).hexdigest()[:32]
        self.generation = 0
        #: How many HTTP requests this source has made (for tests and metrics).
        self.fetch_count = 0
        self._state: _KeyState | None = None
        self._lock = threading.Lock()
        self._fetch_thread: threading.Thread | None = None
        self._retry_at = float("-inf")
        self._last_kid_fetch = float("-inf")
        host = urllib.parse.urlsplit(url).hostname or ""
        handlers: list[urllib.request.BaseHandler] = [_SameOriginRedirects()]
        if is_loopback(host):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"RemoteJWKS({self.url!r})"

    # -- the per-request path --------------------------------------------------------

    def get(self, kid: str) -> VerificationKey:
        state = self._state
        now = self.clock()
        if state is not None and now < state.expires_at:
            key = state.keys.get(kid)
            if key is not None:
                return key
            if now - self._last_kid_fetch < self.cooldown:
                raise UnknownKey()  # looked up recently: no lock, no I/O
        if _NO_FETCH.get():
            raise FetchRequired()  # the slow path may take the lock, read the cache or fetch
        return self._get_slow(kid)

    def _get_slow(self, kid: str) -> VerificationKey:
        with self._lock:  # one fetch at a time; the others wait here and reuse its result
            now = self.clock()
            state = self._state
            if state is None or now >= state.expires_at:
                fetches = self.fetch_count
                self._update(now, want_kid=None)
                state = self._state
                if (
                    state is not None
                    and kid not in state.keys
                    and now < state.expires_at
                    and self.fetch_count == fetches  # a fresh fetch already answered
                ):
                    self._update(now, want_kid=kid)
            elif kid not in state.keys:
                self._update(now, want_kid=kid)
            state = self._state
            if state is None:
                raise KeysUnavailable()
            if now >= state.expires_at + self.max_stale:
                log.error("JWKS from %s is past its stale limit; refusing to use it", self.url)
                self._state = None
                self.generation += 1  # tokens verified with those keys are not served either
                raise KeysUnavailable("the signing keys are unavailable (stale limit reached)")
            key = state.keys.get(kid)
            if key is None:
                raise UnknownKey()
            return key

    def refresh(self) -> None:
        """Fetch the JWKS now (ignoring the cache's freshness); for warm-up and tools."""
        with self._lock:
            self._retry_at = float("-inf")
            self._fetch(self.clock())
        if self._state is None:
            raise KeysUnavailable()

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The kids currently held (empty before the first fetch)."""
        state = self._state
        return tuple(state.keys) if state else ()

    # -- refreshing (called with the lock held) ---------------------------------------

    def _update(self, now: float, *, want_kid: str | None) -> None:
        state = self._state
        if want_kid is None and now < self._retry_at:
            return  # a fetch failed (or another worker is refreshing): not yet
        entry = self._read_cache(now)
        if entry is not None and now < entry.expires_at and (
            state is None
            or entry.fetched_at > state.fetched_at
            or (entry.fetched_at == state.fetched_at and entry.document != state.document)
            or (want_kid is None and entry.expires_at > state.expires_at)
        ):
            self._adopt(entry, announce=False)
            if want_kid is None or want_kid in entry.keys:
                return
        if want_kid is not None:
            if now - self._last_kid_fetch < self.cooldown:
                return
            # The cooldown is shared through the cache: a flood of forged kids spread over
            # a fleet still costs one fetch per cooldown, not one per worker.
            if not self._claim(":kid", now, self.cooldown):
                # Another worker looked it up; its answer reaches the cache. Check again
                # in about a second rather than on every request.
                self._last_kid_fetch = now - self.cooldown + min(1.0, self.cooldown)
                return
            self._last_kid_fetch = now
            self._fetch(now)
            return
        # One worker of the fleet refreshes; the others keep their keys (still within the
        # stale limit) or, on a cold start, wait briefly for its answer in the cache.
        claimed = self._claim(":refresh", now, self.timeout + 1)
        if not claimed:
            if state is not None and now < state.expires_at + self.max_stale:
                self._retry_at = now + min(1.0, self.retry_interval)
                return
            entry = self._wait_for_cache(now)
            if entry is not None:
                self._adopt(entry, announce=False)
                return
        try:
            self._fetch(now)
        finally:
            if claimed:
                self._release(":refresh")

    def _claim(self, suffix: str, now: float, hold: float) -> bool:
        """Take a fleet-wide marker in the shared cache; False if another worker has it.

        The marker stores its own deadline (by this source's clock), so an abandoned or
        clock-skewed one is taken over once it has passed. Any cache error counts as
        success: without the cache, each worker fends for itself.
        """
        key = self.cache_key + suffix
        deadline = repr(now + hold)
        try:
            if _cache_add(self.cache, key, deadline, max(1, math.ceil(hold))):
                return True
            current = _cache_get(self.cache, key)
            if isinstance(current, bytes):
                current = current.decode("ascii", "replace")
            if float(current) > now:
                return False
            _cache_set(self.cache, key, deadline, max(1, math.ceil(hold)))
        except Exception:  # cache down, or a garbage marker: fetch ourselves
            return True
        return True

    def _release(self, suffix: str) -> None:
        try:
            _cache_delete(self.cache, self.cache_key + suffix)
        except Exception:  # the marker expires by itself
            log.debug("could not release the JWKS refresh marker", exc_info=True)

    def _wait_for_cache(self, now: float) -> _KeyState | None:
        """Poll the shared cache (up to the fetch timeout) for another worker's answer."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            entry = self._read_cache(now)
            if entry is not None and now < entry.expires_at:
                return entry
        return None

    def _fetch(self, now: float) -> None:
        state = self._state
        try:
            status, body, etag, age = self._bounded_get(state.etag if state else None)
            if status == 304 and state is not None:
                new = dataclasses.replace(
                    state, fetched_at=now, expires_at=now + age, etag=etag or state.etag
                )
            else:
                keys = parse_jwks(body, source=self.url)
                document = body.decode("utf-8")
                if not keys and state is not None and state.keys and (
                    json.loads(document).get("keys")
                ):
                    # Keys listed but none usable: a broken document, not a key removal;
                    # keep the good keys held (stale-if-error) rather than drop them all.
                    raise JWKSError("the JWKS lists keys but none is usable")
                new = _KeyState(keys, document, etag, now, now + age)
        except Exception as exc:
            self._retry_at = now + self.retry_interval
            stale = state is not None and now < state.expires_at + self.max_stale
            log.warning("JWKS fetch from %s failed (%s)%s", self.url, _describe(exc),
                        "; keeping the last good keys" if stale else "")
            send_safely(keys_refresh_failed, self, url=self.url, error=exc)
            return
        self._retry_at = float("-inf")
        self._adopt(new, announce=True)
        self._write_cache(new, now)

    def _adopt(self, new: _KeyState, *, announce: bool) -> None:
        """Make *new* current; *announce* sends ``keys_refreshed`` (a network answer)."""
        old = self._state
        changed = old is None or set(old.keys) != set(new.keys) or any(
            old.keys[k].jwk.as_dict() != new.keys[k].jwk.as_dict() for k in new.keys
        )
        if changed:
            self.generation += 1
            log.info("JWKS from %s: keys %s", self.url, ", ".join(new.keys) or "(none)")
        elif old is not None:
            # Same keys: keep the decoded key objects so nothing is parsed again.
            new = dataclasses.replace(new, keys=old.keys)
        self._state = new
        if announce or changed:
            send_safely(keys_refreshed, self, url=self.url, key_ids=tuple(new.keys))

    def _bounded_get(self, etag: str | None) -> tuple[int, bytes, str | None, float]:
        """:meth:`_http_get` within ``timeout`` overall, whatever the server does.

        Socket timeouts apply per operation, so a server that trickles its status line
        and headers could hold a fetch (and the lock every cold request waits on) for
        far longer. The fetch runs on a helper thread that is abandoned at the deadline;
        at most one such thread exists, so a hanging endpoint cannot pile them up.
        """
        previous = self._fetch_thread
        if previous is not None and previous.is_alive():
            raise JWKSError("the previous fetch has not finished yet")
        outcome: list[t.Any] = []

        def run() -> None:
            try:
                outcome.append(self._http_get(etag))
            except BaseException as exc:  # handed to the waiting thread below
                outcome.append(exc)

        thread = threading.Thread(target=run, name="pomerium-wsgi-jwks-fetch", daemon=True)
        self._fetch_thread = thread
        thread.start()
        thread.join(self.timeout)
        if not outcome:
            raise JWKSError(f"no complete answer within {self.timeout:g} s")
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return t.cast(tuple[int, bytes, str | None, float], result)

    def _http_get(self, etag: str | None) -> tuple[int, bytes, str | None, float]:
        headers = {"Accept": "application/json", "User-Agent": "pomerium-wsgi"}
        if etag:
            headers["If-None-Match"] = etag
        request = urllib.request.Request(self.url, headers=headers)  # noqa: S310 - checked scheme
        deadline = time.monotonic() + self.timeout
        self.fetch_count += 1
        try:
            response = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                exc.close()
                return 304, b"", exc.headers.get("ETag"), self._max_age(exc.headers)
            exc.close()
            raise JWKSError(f"HTTP {exc.code}") from None
        with response:
            if response.status != 200:
                raise JWKSError(f"HTTP {response.status}")
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > self.max_size:
                raise JWKSError(f"response of {length} bytes is over {self.max_size}")
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise JWKSError(f"response took longer than {self.timeout} s")
                chunk = response.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_size:
                    raise JWKSError(f"response is over {self.max_size} bytes")
                chunks.append(chunk)
            return 200, b"".join(chunks), response.headers.get("ETag"), self._max_age(
                response.headers
            )

    def _max_age(self, headers: Message) -> float:
        """The document's lifetime from ``Cache-Control``, clamped to the bounds."""
        age: float | None = None
        forbid = False
        for line in headers.get_all("Cache-Control") or ():
            for directive in _directives(line):
                name, _, value = directive.partition("=")
                name = name.strip().lower()
                if name in ("no-store", "no-cache") and not value:
                    forbid = True  # a field-scoped no-cache="set-cookie" does not count
                elif name == "max-age":
                    digits = value.strip().strip('"')
                    if digits.lstrip("-").isdigit():
                        # Huge values are clamped below; a negative one means "stale now".
                        age = max(0.0, float(digits[:12]) if digits[0] != "-" else 0.0)
        if forbid:
            age = self.min_age
        elif age is None:
            age = self.default_age
        return min(max(age, self.min_age), self.max_age)

    # -- the shared cache ---------------------------------------------------------------

    def _read_cache(self, now: float) -> _KeyState | None:
        try:
            raw = _cache_get(self.cache, self.cache_key)
        except Exception as exc:
            log.warning("JWKS cache read failed (%s); using the network", _describe(exc))
            send_safely(keys_refresh_failed, self, url=self.url, error=exc)
            return None
        if raw is None:
            return None
        try:
            if isinstance(raw, bytes):
                raw = raw.decode("utf-8")
            if not isinstance(raw, str):
                raise JWKSError("entry is not JSON text")
            entry = json.loads(raw)
            if entry.get("url") != self.url:
                raise JWKSError("entry is for another URL")
            document = entry["jwks"]
            etag = entry.get("etag")
            fetched_at = float(entry["fetched_at"])
            expires_at = float(entry["expires_at"])
            if not isinstance(document, str) or not (etag is None or isinstance(etag, str)):
                raise JWKSError("entry has the wrong shape")
            if not (fetched_at <= now + 60 and expires_at - fetched_at <= self.max_age):
                raise JWKSError("entry has impossible times")
            if now >= expires_at:
                return None  # expired: no use parsing it (this runs on every request
                # while the endpoint is down)
            state = self._state
            if state is not None and document == state.document:
                return dataclasses.replace(state, etag=etag, fetched_at=fetched_at,
                                           expires_at=expires_at)
            keys = parse_jwks(document, source=f"cached {self.url}")
        except Exception as exc:
            log.warning("ignoring a bad JWKS cache entry (%s)", _describe(exc))
            return None
        return _KeyState(keys, document, etag, fetched_at, expires_at)

    def _write_cache(self, state: _KeyState, now: float) -> None:
        entry = json.dumps({
            "url": self.url,
            "jwks": state.document,
            "etag": state.etag,
            "fetched_at": state.fetched_at,
            "expires_at": state.expires_at,
        })
        lifetime = max(1, int(state.expires_at - now + self.max_stale))
        try:
            _cache_set(self.cache, self.cache_key, entry, lifetime)
        except Exception as exc:
            log.warning("JWKS cache write failed (%s)", _describe(exc))


def _redis_client(cache: BaseCache, which: str) -> tuple[t.Any, str]:
    """The raw client and key prefix of a cachelib Redis-compatible cache, else None."""
    get_prefix = getattr(cache, "_get_prefix", None)
    if get_prefix is None:
        return None, ""
    return getattr(cache, which, None), str(get_prefix())


# cachelib's Redis caches pickle every value, so reading an entry someone wrote into
# Redis would unpickle it. For those caches the JSON text is stored and read through the
# raw client instead: nothing read back from Redis is ever unpickled.
def _cache_get(cache: BaseCache, key: str) -> t.Any:
    client, prefix = _redis_client(cache, "_read_client")
    if client is None:
        return cache.get(key)
    return client.get(prefix + key)


def _cache_add(cache: BaseCache, key: str, value: str, timeout: int) -> bool:
    client, prefix = _redis_client(cache, "_write_client")
    if client is None:
        return bool(cache.add(key, value, timeout=timeout))
    return bool(client.set(name=prefix + key, value=value.encode("utf-8"), nx=True, ex=timeout))


def _cache_delete(cache: BaseCache, key: str) -> None:
    client, prefix = _redis_client(cache, "_write_client")
    if client is None:
        cache.delete(key)
    else:
        client.delete(prefix + key)


def _cache_set(cache: BaseCache, key: str, value: str, timeout: int) -> None:
    client, prefix = _redis_client(cache, "_write_client")
    if client is None:
        cache.set(key, value, timeout=timeout)
    else:
        client.set(name=prefix + key, value=value.encode("utf-8"), ex=timeout)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
