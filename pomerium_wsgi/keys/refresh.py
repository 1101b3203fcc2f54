"""The refresh policy: when to fetch the JWKS, and what to keep when fetching fails.

:class:`RemoteJWKS` decides over two small interfaces, a *fetcher* (:mod:`.fetch` does it
over HTTP) and a *shared store* (:mod:`.stores`, written as :mod:`.fleet` says), so the
whole state machine runs in unit tests with a fake fetcher and a fake clock:

* a JWKS lives for its ``max-age`` (clamped to ``min_age``/``max_age``), then is
  revalidated with ``If-None-Match`` (a 304 keeps the decoded keys);
* an unknown ``kid`` refetches at once, then at most once per ``cooldown`` counted from
  that refetch (fleet-wide), so forged kids cannot drive the endpoint while a real
  rotation is seen without delay;
* a failed fetch keeps the last good keys up to ``max_stale`` past their expiry, retried
  every ``retry_interval``; past that limit the keys are dropped (503);
* one fetch at a time per process (the others wait for it) and, through the store, about
  one per fleet: workers adopt each other's answers.

:class:`~.nofetch.no_fetch` lets an event loop call :meth:`RemoteJWKS.get` inline: inside it, a
lookup that would fetch or wait for a fetch raises ``FetchRequired`` instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import threading
import time
import typing as t

from cachelib import BaseCache, SimpleCache

from ..errors import ConfigurationError, FetchRequired, KeysUnavailable, UnknownKey
from ..signals import keys_refresh_failed, keys_refreshed, send_safely
from . import fleet
from .fetch import HTTPFetcher, Response, check_jwks_url
from .keyset import JWKSError, VerificationKey, parse_jwks
from .nofetch import fetch_allowed, fetching_forbidden
from .stores import SharedStore, store_for

log = logging.getLogger("pomerium_wsgi.keys")

class Fetcher(t.Protocol):
    """Fetches one JWKS document; :class:`~.fetch.HTTPFetcher` is the real one."""

    #: Fetches started so far.
    requests: int

    def __call__(self, etag: str | None) -> Response:
        """The document (200), or 304 when *etag* still matches; raise on failure."""
        ...


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
        ``SimpleCache``). It holds the JWKS JSON text and its metadata only, and is never
        read through a path that unpickles (see :mod:`pomerium_wsgi.keys.stores`).
    :param timeout: seconds for the whole fetch (connect, headers and body).
    :param cooldown: an unknown ``kid`` refetches at most once per this many seconds.
    :param retry_interval: after a failed fetch, wait this long before the next try.
    :param max_stale: serve the last good keys this long past their expiry while the
        endpoint fails; after that, answer 503.
    :param min_age, max_age: bounds for the response's ``max-age``.
    :param default_age: lifetime when the response gives no ``max-age``.
    :param max_size: largest JWKS body accepted, in bytes.
    :param clock: the time source (seconds, like :func:`time.time`).
    :param fetcher: what fetches the document (default: HTTP from *url*); for tests.
    :param sleep: how to pause while waiting for another worker's fetch; for tests.
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
        fetcher: Fetcher | None = None,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = check_jwks_url(url)
        if cache is None:
            cache = SimpleCache(threshold=16)
        self.store: SharedStore = store_for(cache)
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
        self.fetcher: Fetcher = fetcher or HTTPFetcher(
            self.url, timeout=self.timeout, max_size=self.max_size
        )
        self._sleep = sleep
        self.cache_key = "pomerium_wsgi:jwks:" + hashlib.sha256(url.encode()).hexdigest()[:32]
        self.generation = 0
        self._state: _KeyState | None = None
        self._lock = threading.Lock()
        self._retry_at = float("-inf")
        self._last_kid_fetch = float("-inf")

    def __repr__(self) -> str:
        return f"RemoteJWKS({self.url!r})"

    @property
    def fetch_count(self) -> int:
        """How many fetches this source has started (for tests and metrics)."""
        return self.fetcher.requests

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
        return self._get_slow(kid)

    def _get_slow(self, kid: str) -> VerificationKey:
        # One fetch at a time; the others wait here and reuse its result. Inside
        # no_fetch() a held lock means a fetch (or a wait for one) is under way.
        if not self._lock.acquire(blocking=not fetching_forbidden()):
            raise FetchRequired()
        try:
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
        finally:
            self._lock.release()

    def refresh(self) -> None:
        """Fetch the JWKS now (ignoring the cache's freshness); for warm-up and tools."""
        fetch_allowed()
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
        if not self.store.local:
            fetch_allowed()  # reading Redis or a file is I/O too: not on an event loop
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
            fetch_allowed()  # (before the marker: a retry off the loop takes it)
            # The cooldown is shared through the cache: a flood of forged kids spread over
            # a fleet still costs one fetch per cooldown, not one per worker.
            if not fleet.claim(self.store, self.cache_key + ":kid", now, self.cooldown):
                # Another worker looked it up; its answer reaches the cache. Check again
                # in about a second rather than on every request.
                self._last_kid_fetch = now - self.cooldown + min(1.0, self.cooldown)
                return
            self._last_kid_fetch = now
            self._fetch(now)
            return
        fetch_allowed()
        # One worker of the fleet refreshes; the others keep their keys (still within the
        # stale limit) or, on a cold start, wait briefly for its answer in the cache.
        claimed = fleet.claim(self.store, self.cache_key + ":refresh", now, self.timeout + 1)
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
                fleet.release(self.store, self.cache_key + ":refresh")

    def _wait_for_cache(self, now: float) -> _KeyState | None:
        """Poll the shared store (up to the fetch timeout) for another worker's answer."""
        deadline = time.monotonic() + self.timeout
        for _ in range(math.ceil(self.timeout / 0.05)):
            self._sleep(0.05)
            entry = self._read_cache(now)
            if entry is not None and now < entry.expires_at:
                return entry
            if time.monotonic() >= deadline:
                break
        return None

    def _lifetime(self, response: Response) -> float:
        """The document's lifetime from its ``Cache-Control``, clamped to the bounds."""
        if response.no_store:
            age = self.min_age
        elif response.max_age is None:
            age = self.default_age
        else:
            age = response.max_age
        return min(max(age, self.min_age), self.max_age)

    def _fetch(self, now: float) -> None:
        state = self._state
        try:
            response = self.fetcher(state.etag if state else None)
            age = self._lifetime(response)
            if response.status == 304 and state is not None:
                new = dataclasses.replace(state, fetched_at=now, expires_at=now + age,
                                          etag=response.etag or state.etag)
            else:
                if response.status != 200:
                    raise JWKSError(f"unexpected answer: {response.describe()}")
                try:
                    keys = parse_jwks(response.body, source=self.url)
                    document = response.body.decode("utf-8")
                except (JWKSError, UnicodeError) as exc:
                    # An HTML login page, an error page, a redirect target's body: say
                    # what came back, whatever its Content-Type claimed.
                    raise JWKSError(f"not a key set: {response.describe()}") from exc
                if not keys and state is not None and state.keys and (
                    json.loads(document).get("keys")
                ):
                    # Keys listed but none usable: a broken document, not a key removal;
                    # keep the good keys held (stale-if-error) rather than drop them all.
                    raise JWKSError("the JWKS lists keys but none is usable")
                new = _KeyState(keys, document, response.etag, now, now + age)
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
            log.info("JWKS from %s: keys %s", self.url,  # ascii(): kids are the endpoint's
                     ", ".join(map(ascii, new.keys)) or "(none)")  # text, escapes and all
        elif old is not None:
            # Same keys: keep the decoded key objects so nothing is parsed again.
            new = dataclasses.replace(new, keys=old.keys)
        self._state = new
        if announce or changed:
            send_safely(keys_refreshed, self, url=self.url, key_ids=tuple(new.keys))

    def _read_cache(self, now: float) -> _KeyState | None:
        try:
            raw = self.store.get(self.cache_key)
        except Exception as exc:
            log.warning("JWKS cache read failed (%s); using the network", _describe(exc))
            send_safely(keys_refresh_failed, self, url=self.url, error=exc)
            return None
        if raw is None:
            return None
        try:
            entry = fleet.decode_entry(raw, url=self.url, now=now, max_age=self.max_age)
            document, etag, fetched_at, expires_at = entry[1:]
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
        entry = fleet.encode_entry(fleet.Entry(
            self.url, state.document, state.etag, state.fetched_at, state.expires_at))
        lifetime = max(1, int(state.expires_at - now + self.max_stale))
        try:
            self.store.set(self.cache_key, entry, lifetime)
        except Exception as exc:
            log.warning("JWKS cache write failed (%s)", _describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:400]}" if text else type(exc).__name__
