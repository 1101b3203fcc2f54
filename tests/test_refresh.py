"""keys/refresh.py: the refresh policy, driven by a fake fetcher and a fake clock.

No sockets and no threads: every state transition of ``RemoteJWKS`` (cold start, fresh,
revalidated, rotated, unknown kid and its cooldown, outage with stale keys, the stale
limit, recovery, the fleet through a shared in-process store, and ``no_fetch()``) is
stepped through by hand. The real-server behaviour is in test_keys.py and integration/.
"""

from __future__ import annotations

import asyncio
import json
import logging
import typing as t

import pytest
from cachelib import FileSystemCache, SimpleCache

from pomerium_wsgi import KeysUnavailable, UnknownKey, Verifier
from pomerium_wsgi.errors import FetchRequired
from pomerium_wsgi.keys import JWKSError, RemoteJWKS, Response, no_fetch
from pomerium_wsgi.signals import keys_refresh_failed, keys_refreshed
from pomerium_wsgi.testing import FakePomerium, SigningKey

from .helpers import Clock

URL = "https://app.example.com/.well-known/pomerium/jwks.json"


class FakeFetcher:
    """Serves ``published`` keys like Pomerium (ETag = the document's version), or fails.

    ``fail`` set to an exception makes every fetch raise it; ``body`` overrides the
    document. ``etags`` records each If-None-Match sent.
    """

    def __init__(self, *keys: SigningKey, max_age: float | None = 60) -> None:
        self.published = list(keys)
        self.max_age = max_age
        self.no_store = False
        self.fail: Exception | None = None
        self.body: bytes | None = None
        self.requests = 0
        self.etags: list[str | None] = []

    @property
    def etag(self) -> str:
        return '"' + "-".join(k.kid[:8] for k in self.published) + '"'

    def __call__(self, etag: str | None) -> Response:
        self.requests += 1
        self.etags.append(etag)
        if self.fail is not None:
            raise self.fail
        if self.body is not None:
            return Response(200, self.body, None, self.max_age, content_type="text/html")
        if etag == self.etag:
            return Response(304, b"", self.etag, self.max_age, self.no_store)
        document = {"keys": [k.public_jwk() for k in self.published]}
        return Response(200, json.dumps(document).encode(), self.etag, self.max_age,
                        self.no_store, "application/json")


class Sleeper:
    """A fake ``sleep``: advances nothing, counts calls, and may run a step on one."""

    def __init__(self) -> None:
        self.calls = 0
        self.on_call: dict[int, t.Callable[[], None]] = {}

    def __call__(self, seconds: float) -> None:
        self.calls += 1
        step = self.on_call.get(self.calls)
        if step is not None:
            step()


@pytest.fixture
def key() -> SigningKey:
    return SigningKey("ES256")


@pytest.fixture
def fetcher(key: SigningKey) -> FakeFetcher:
    return FakeFetcher(key)


def source(fetcher: FakeFetcher, clock: Clock, **options: t.Any) -> RemoteJWKS:
    return RemoteJWKS(URL, fetcher=fetcher, clock=clock, **options)


@pytest.fixture
def signals() -> t.Iterator[dict[str, list[dict[str, t.Any]]]]:
    seen: dict[str, list[dict[str, t.Any]]] = {"refreshed": [], "failed": []}

    def refreshed(sender: object, **kw: t.Any) -> None:
        seen["refreshed"].append(kw)

    def failed(sender: object, **kw: t.Any) -> None:
        seen["failed"].append(kw)

    keys_refreshed.connect(refreshed)
    keys_refresh_failed.connect(failed)
    yield seen
    keys_refreshed.disconnect(refreshed)
    keys_refresh_failed.disconnect(failed)


# -- one process --------------------------------------------------------------------------

def test_cold_start_fetches_once_then_serves_from_memory(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock, signals: t.Any) -> None:
    keys = source(fetcher, clock)
    assert keys.key_ids == () and keys.generation == 0
    assert keys.get(key.kid).kid == key.kid
    for _ in range(100):
        keys.get(key.kid)
    assert fetcher.requests == 1 and fetcher.etags == [None]
    assert keys.generation == 1 and keys.key_ids == (key.kid,)
    assert [s["key_ids"] for s in signals["refreshed"]] == [(key.kid,)]


def test_expiry_revalidates_with_etag_and_304_keeps_the_key_objects(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    keys = source(fetcher, clock)
    first = keys.get(key.kid)
    clock.advance(59)
    assert keys.get(key.kid) is first and fetcher.requests == 1
    clock.advance(1)
    assert keys.get(key.kid) is first  # 304: nothing parsed again
    assert fetcher.etags == [None, fetcher.etag]
    assert keys.generation == 1
    assert keys._state is not None and keys._state.expires_at == clock.now + 60


@pytest.mark.parametrize("max_age, no_store, expected", [
    (None, False, 300), (0, False, 5), (3, False, 5), (120, False, 120),
    (10**9, False, 86400), (float("inf"), False, 86400), (120, True, 5),
], ids=["absent-default", "zero", "under-min", "in-range", "huge", "unparseably-huge",
        "no-store"])
def test_max_age_is_clamped(max_age: float | None, no_store: bool, expected: float,
                            fetcher: FakeFetcher, clock: Clock) -> None:
    fetcher.max_age, fetcher.no_store = max_age, no_store
    keys = source(fetcher, clock)
    keys.refresh()
    assert keys._state is not None and keys._state.expires_at - clock.now == expected


def test_routine_expiry_picks_up_a_rotation(key: SigningKey, fetcher: FakeFetcher,
                                            clock: Clock) -> None:
    keys = source(fetcher, clock)
    keys.get(key.kid)
    new = SigningKey("ES256")
    fetcher.published.insert(0, new)
    clock.advance(60)
    assert keys.get(key.kid).kid == key.kid  # the routine refresh
    assert keys.key_ids == (new.kid, key.kid) and keys.generation == 2
    assert keys.get(new.kid).kid == new.kid and fetcher.requests == 2


def test_unknown_kid_refetches_at_once_even_right_after_a_routine_fetch(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    keys = source(fetcher, clock)
    keys.get(key.kid)
    new = SigningKey("ES256")
    fetcher.published.insert(0, new)
    assert keys.get(new.kid).kid == new.kid
    assert fetcher.etags == [None, '"' + key.kid[:8] + '"']  # If-None-Match sent


def test_cooldown_counts_from_the_last_unknown_kid_refetch(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    keys = source(fetcher, clock, cooldown=30)
    keys.get(key.kid)
    clock.advance(20)
    with pytest.raises(UnknownKey):
        keys.get("forged-1")  # first unknown kid: looked up at once
    assert fetcher.requests == 2
    clock.advance(29)  # 49 s after the routine fetch, 29 s after the lookup
    for n in range(50):
        with pytest.raises(UnknownKey):
            keys.get(f"forged-{n}")
    assert fetcher.requests == 2
    clock.advance(2)  # the cooldown has passed (the document is still fresh)
    with pytest.raises(UnknownKey):
        keys.get("forged-again")
    assert fetcher.requests == 3


def test_unknown_kid_that_is_still_unknown_after_refetch(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    keys = source(fetcher, clock)
    keys.get(key.kid)
    with pytest.raises(UnknownKey):
        keys.get("nope")
    assert keys.generation == 1  # 304: nothing changed


def test_removed_key_is_refused_once_the_document_expires(clock: Clock) -> None:
    old, new = SigningKey("ES256"), SigningKey("ES256")
    fetcher = FakeFetcher(new, old)
    keys = source(fetcher, clock)
    assert keys.get(old.kid)
    fetcher.published.remove(old)
    clock.advance(30)
    assert keys.get(old.kid)  # still fresh
    clock.advance(30)
    with pytest.raises(UnknownKey):
        keys.get(old.kid)
    assert keys.key_ids == (new.kid,)


def test_outage_serves_stale_keys_retries_slowly_and_stops_at_the_limit(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock, signals: t.Any) -> None:
    keys = source(fetcher, clock, retry_interval=5, max_stale=100)
    keys.get(key.kid)
    fetcher.fail = ConnectionRefusedError("down")
    clock.advance(60)
    assert keys.get(key.kid)  # stale-if-error
    assert fetcher.requests == 2 and isinstance(signals["failed"][-1]["error"],
                                                ConnectionRefusedError)
    clock.advance(4)
    assert keys.get(key.kid) and fetcher.requests == 2  # not before retry_interval
    clock.advance(1)
    assert keys.get(key.kid) and fetcher.requests == 3
    clock.advance(95)  # expired 100 s ago: the stale limit
    generation = keys.generation
    with pytest.raises(KeysUnavailable):
        keys.get(key.kid)
    assert keys.key_ids == () and keys.generation == generation + 1
    fetcher.fail = None
    clock.advance(5)
    assert keys.get(key.kid) and keys.key_ids == (key.kid,)


def test_cold_start_failure_is_retried_per_interval(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    fetcher.fail = TimeoutError("slow")
    keys = source(fetcher, clock, retry_interval=5)
    for _ in range(3):
        with pytest.raises(KeysUnavailable):
            keys.get(key.kid)
    assert fetcher.requests == 1
    fetcher.fail = None
    clock.advance(5)
    assert keys.get(key.kid) and fetcher.requests == 2


def test_refresh_raises_when_nothing_could_be_fetched(fetcher: FakeFetcher,
                                                      clock: Clock) -> None:
    fetcher.fail = ConnectionResetError()
    with pytest.raises(KeysUnavailable):
        source(fetcher, clock).refresh()


@pytest.mark.parametrize("body", [b"<html><body>Sign in</body></html>", b'{"error": "x"}'],
                         ids=["html-login-page", "json-not-a-jwks"])
def test_an_answer_that_is_not_a_key_set_keeps_the_good_keys_and_is_described(
        body: bytes, key: SigningKey, fetcher: FakeFetcher, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    keys = source(fetcher, clock)
    keys.get(key.kid)
    fetcher.body = body
    clock.advance(60)
    with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"):
        assert keys.get(key.kid)
    assert "not a key set: HTTP 200, Content-Type 'text/html'" in caplog.text
    assert body[:10].decode() in caplog.text


def test_a_document_whose_keys_are_all_unusable_keeps_the_good_keys(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    keys = source(fetcher, clock)
    keys.get(key.kid)
    fetcher.body = json.dumps({"keys": [{**key.public_jwk(), "use": "enc"}]}).encode()
    clock.advance(60)
    assert keys.get(key.kid) and fetcher.requests == 2


def test_an_empty_key_set_is_a_real_removal(key: SigningKey, fetcher: FakeFetcher,
                                            clock: Clock) -> None:
    keys = source(fetcher, clock)
    keys.get(key.kid)
    fetcher.published = []
    clock.advance(60)
    with pytest.raises(UnknownKey):
        keys.get(key.kid)


def test_a_304_without_a_document_is_a_failure(clock: Clock) -> None:
    def not_modified(etag: str | None) -> Response:
        return Response(304, b"", '"x"', 60)

    not_modified.requests = 0  # type: ignore[attr-defined]
    keys = RemoteJWKS(URL, fetcher=t.cast(t.Any, not_modified), clock=clock)
    with pytest.raises(KeysUnavailable):
        keys.get("k")


# -- a fleet sharing one store -------------------------------------------------------------

def test_workers_adopt_each_others_documents(key: SigningKey, fetcher: FakeFetcher,
                                             clock: Clock, signals: t.Any) -> None:
    shared = SimpleCache()
    a, b = source(fetcher, clock, cache=shared), source(fetcher, clock, cache=shared)
    assert a.get(key.kid) and b.get(key.kid)
    assert fetcher.requests == 1
    assert len(signals["refreshed"]) == 2  # a fetched, b adopted (changed keys)


def test_rotation_seen_by_one_worker_reaches_the_other_without_a_fetch(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    a, b = source(fetcher, clock, cache=shared), source(fetcher, clock, cache=shared)
    a.get(key.kid), b.get(key.kid)
    new = SigningKey("ES256")
    fetcher.published.insert(0, new)
    clock.advance(1)
    assert a.get(new.kid) and fetcher.requests == 2
    assert b.get(new.kid) and fetcher.requests == 2  # adopted the newer entry


def test_one_worker_refreshes_while_the_other_keeps_serving(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    a, b = source(fetcher, clock, cache=shared), source(fetcher, clock, cache=shared)
    a.get(key.kid), b.get(key.kid)
    clock.advance(60)
    # a is mid-refresh: its marker is in the store.
    a.store.add(a.cache_key + ":refresh", repr(clock.now + 6), 6)
    assert b.get(key.kid) and fetcher.requests == 1  # stale but trusted, no fetch
    a.store.delete(a.cache_key + ":refresh")
    assert a.get(key.kid) and fetcher.requests == 2
    clock.advance(1)
    assert b.get(key.kid) and fetcher.requests == 2  # adopts a's answer
    assert b._state is not None and b._state.expires_at == clock.now - 1 + 60


def test_cold_worker_waits_for_the_fleets_fetch(key: SigningKey, fetcher: FakeFetcher,
                                                clock: Clock) -> None:
    shared = SimpleCache()
    sleeper = Sleeper()
    a = source(fetcher, clock, cache=shared)
    b = source(fetcher, clock, cache=shared, sleep=sleeper)
    b.store.add(b.cache_key + ":refresh", repr(clock.now + 6), 6)  # a has claimed
    sleeper.on_call[3] = a.refresh  # ... and answers while b polls
    assert b.get(key.kid) and fetcher.requests == 1 and sleeper.calls == 3


def test_cold_worker_fetches_itself_when_the_fleet_never_answers(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    sleeper = Sleeper()
    b = source(fetcher, clock, cache=shared, sleep=sleeper, timeout=1)
    b.store.add(b.cache_key + ":refresh", repr(clock.now + 2), 2)
    assert b.get(key.kid) and fetcher.requests == 1 and sleeper.calls == 20


def test_unknown_kid_cooldown_is_shared_by_the_fleet(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    a, b = source(fetcher, clock, cache=shared), source(fetcher, clock, cache=shared)
    a.get(key.kid), b.get(key.kid)
    with pytest.raises(UnknownKey):
        a.get("forged")
    with pytest.raises(UnknownKey):
        b.get("forged")
    assert fetcher.requests == 2  # b saw a's marker
    clock.advance(0.5)
    with pytest.raises(UnknownKey):
        b.get("forged-2")  # b checks again only after about a second
    clock.advance(0.6)
    with pytest.raises(UnknownKey):
        b.get("forged-3")
    assert fetcher.requests == 2  # a's marker still holds (30 s)


def test_expired_worker_adopts_the_fleets_document_then_looks_up_a_kid_missing_from_it(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    a, b = source(fetcher, clock, cache=shared), source(fetcher, clock, cache=shared)
    a.get(key.kid), b.get(key.kid)
    clock.advance(60)
    a.get(key.kid)  # a revalidates and shares the answer
    new = SigningKey("ES256")
    fetcher.published.insert(0, new)
    assert b.get(new.kid) and fetcher.requests == 3  # adopted a's entry, then refetched
    assert b.key_ids == (new.kid, key.kid)


def test_a_fresh_worker_adopts_a_newer_entry_then_still_looks_up_a_missing_kid(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    a, b = source(fetcher, clock, cache=shared), source(fetcher, clock, cache=shared)
    b.get(key.kid)
    clock.advance(10)
    a.refresh()  # a newer entry (same keys) in the store
    new = SigningKey("ES256")
    fetcher.published.insert(0, new)
    assert b.get(new.kid) and fetcher.requests == 3


def test_expired_worker_within_its_cooldown_adopts_but_does_not_refetch(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    a, b = source(fetcher, clock, cache=shared), source(fetcher, clock, cache=shared)
    a.get(key.kid), b.get(key.kid)
    clock.advance(50)
    fetcher.fail = ConnectionResetError()
    with pytest.raises(UnknownKey):
        b.get("forged")  # b's lookup fails: its cooldown still runs to 80 s
    fetcher.fail = None
    clock.advance(10)
    a.get(key.kid)  # a revalidates at 60 s and shares the answer
    assert fetcher.requests == 3
    with pytest.raises(UnknownKey):
        b.get("forged-2")  # b adopts a's entry; the kid waits for b's cooldown
    assert fetcher.requests == 3 and b._state is not None
    assert b._state.expires_at == clock.now + 60


def test_an_entry_stored_as_bytes_is_read(key: SigningKey, fetcher: FakeFetcher,
                                          clock: Clock) -> None:
    shared = SimpleCache()
    a = source(fetcher, clock, cache=shared)
    a.get(key.kid)
    shared.set(a.cache_key, shared.get(a.cache_key).encode())  # as Redis returns it
    b = source(fetcher, clock, cache=shared)
    assert b.get(key.kid) and fetcher.requests == 1


class DownCache(SimpleCache):  # type: ignore[misc]
    """An in-process cache whose every call fails, like a Redis that is down."""

    def get(self, key: str) -> t.Any:
        raise ConnectionError("down")

    set = add = delete = get  # type: ignore[assignment]


def test_a_store_that_is_down_leaves_each_worker_on_its_own(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock, signals: t.Any,
        caplog: pytest.LogCaptureFixture) -> None:
    keys = source(fetcher, clock, cache=DownCache())
    with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"):
        assert keys.get(key.kid)
        clock.advance(60)
        assert keys.get(key.kid)  # claims and releases fail too: fetched anyway
    assert fetcher.requests == 2
    assert "cache read failed" in caplog.text and "cache write failed" in caplog.text
    assert any(isinstance(s["error"], ConnectionError) for s in signals["failed"])


MARKERS = {
    "far-future": lambda now: repr(now + 10**9),
    "infinite": lambda now: "inf",
    "nan": lambda now: "nan",
    "garbage": lambda now: "\x00not a number",
    "passed": lambda now: repr(now - 1),
    "pickle-bytes": lambda now: b"\x80\x04K\x01.",
}


@pytest.mark.parametrize("marker", list(MARKERS), ids=list(MARKERS))
def test_a_bad_or_abandoned_marker_never_stops_rotation(
        marker: str, key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    keys = source(fetcher, clock, cache=shared)
    keys.get(key.kid)
    shared.set(keys.cache_key + ":kid", MARKERS[marker](clock.now), timeout=0)
    new = SigningKey("ES256")
    fetcher.published.insert(0, new)
    assert keys.get(new.kid) and fetcher.requests == 2
    # Taken over with a sane deadline (the cooldown) and an expiry.
    assert float(shared.get(keys.cache_key + ":kid")) == clock.now + 30


@pytest.mark.parametrize("ahead, respected", [(4, True), (6, False)],
                         ids=["clock-4s-ahead-respected", "6s-past-any-hold-taken-over"])
def test_a_marker_from_a_clock_slightly_ahead_is_respected(
        ahead: float, respected: bool, key: SigningKey, fetcher: FakeFetcher,
        clock: Clock) -> None:
    shared = SimpleCache()
    keys = source(fetcher, clock, cache=shared)
    keys.get(key.kid)
    shared.set(keys.cache_key + ":kid", repr(clock.now + 30 + ahead))
    with pytest.raises(UnknownKey):
        keys.get("unknown")
    assert fetcher.requests == (1 if respected else 2)


def test_a_bad_refresh_marker_does_not_make_a_cold_worker_wait(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared, sleeper = SimpleCache(), Sleeper()
    keys = source(fetcher, clock, cache=shared, sleep=sleeper)
    shared.set(keys.cache_key + ":refresh", repr(clock.now + 10**9), timeout=0)
    assert keys.get(key.kid) and sleeper.calls == 0 and fetcher.requests == 1


@pytest.mark.parametrize("entry", [
    lambda now, doc: json.dumps({"url": "https://evil.example.com/j", "jwks": doc,
                                 "etag": None, "fetched_at": now, "expires_at": now + 60}),
    lambda now, doc: json.dumps({"url": URL, "jwks": doc, "etag": None,
                                 "fetched_at": now + 3600, "expires_at": now + 3660}),
    lambda now, doc: json.dumps({"url": URL, "jwks": doc, "etag": None,
                                 "fetched_at": now, "expires_at": now + 10**7}),
    lambda now, doc: json.dumps({"url": URL, "jwks": json.loads(doc), "etag": None,
                                 "fetched_at": now, "expires_at": now + 60}),
    lambda now, doc: 42,
], ids=["other-url", "from-the-future", "lifetime-over-max", "jwks-not-text", "not-text"])
def test_a_bad_shared_entry_is_ignored(entry: t.Callable[[float, str], object],
                                       key: SigningKey, fetcher: FakeFetcher,
                                       clock: Clock) -> None:
    attacker = SigningKey("ES256")
    shared = SimpleCache()
    keys = source(fetcher, clock, cache=shared)
    shared.set(keys.cache_key,
               entry(clock.now, json.dumps({"keys": [attacker.public_jwk()]})))
    assert keys.get(key.kid) and fetcher.requests == 1
    clock.advance(31)  # past the cooldown: the attacker's kid is looked up, not found
    with pytest.raises(UnknownKey):
        keys.get(attacker.kid)


# -- no_fetch(): an event loop's inline lookups --------------------------------------------

def test_no_fetch_cold_raises_fetch_required_without_side_effects(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    keys = source(fetcher, clock, cache=shared)
    with no_fetch(), pytest.raises(FetchRequired) as caught:
        keys.get(key.kid)
    assert isinstance(caught.value, KeysUnavailable) and caught.value.status == 503
    assert fetcher.requests == 0 and shared.get(keys.cache_key + ":refresh") is None
    assert keys.get(key.kid) and fetcher.requests == 1  # outside: fetched as before


def test_no_fetch_serves_held_keys_and_cooled_down_unknown_kids_inline(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    keys = source(fetcher, clock)
    keys.get(key.kid)
    with no_fetch():
        assert keys.get(key.kid).kid == key.kid
        with pytest.raises(FetchRequired):
            keys.get("new-kid")  # would refetch
    with pytest.raises(UnknownKey):
        keys.get("new-kid")
    with no_fetch(), pytest.raises(UnknownKey):
        keys.get("other-kid")  # within the cooldown: no fetch needed
    with no_fetch(), pytest.raises(FetchRequired):
        keys.refresh()
    assert fetcher.requests == 2


def test_no_fetch_on_expiry_and_while_another_thread_holds_the_lock(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    keys = source(fetcher, clock)
    keys.get(key.kid)
    clock.advance(60)
    with no_fetch(), pytest.raises(FetchRequired):
        keys.get(key.kid)  # expired: would revalidate
    clock.advance(-30)
    assert keys._lock.acquire()  # as a fetching thread does
    try:
        with no_fetch(), pytest.raises(FetchRequired):
            keys.get("unknown")  # would wait for that thread
    finally:
        keys._lock.release()
    assert fetcher.requests == 1


def test_no_fetch_adopts_a_fleet_answer_and_serves_stale_keys_during_an_outage(
        key: SigningKey, fetcher: FakeFetcher, clock: Clock) -> None:
    shared = SimpleCache()
    a, b = source(fetcher, clock, cache=shared), source(fetcher, clock, cache=shared)
    a.get(key.kid)
    with no_fetch():
        assert b.get(key.kid)  # from the store, no fetch needed
    fetcher.fail = ConnectionRefusedError()
    clock.advance(60)
    assert a.get(key.kid)  # the failed refresh: stale keys, retry in 5 s
    with no_fetch():
        assert a.get(key.kid)  # within the retry interval: answered inline
    assert fetcher.requests == 2


def test_no_fetch_never_reads_a_store_that_is_io(key: SigningKey, fetcher: FakeFetcher,
                                                 clock: Clock, tmp_path: t.Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A Redis or file store is read over the network or the disk: inline on an event
    # loop, that read blocked it (no_fetch promises no I/O). In-process stores are read
    # inline, as above.
    shared = FileSystemCache(str(tmp_path))
    a, b = source(fetcher, clock, cache=shared), source(fetcher, clock, cache=shared)
    a.get(key.kid)
    reads: list[str] = []
    read = b.store.get
    monkeypatch.setattr(b.store, "get", lambda name: reads.append(name) or read(name))
    with no_fetch(), pytest.raises(FetchRequired):
        b.get(key.kid)  # cold: its answer is in the store, but reading it is I/O
    assert reads == [] and not b.store.local
    assert b.get(key.kid) and fetcher.requests == 1  # off the loop: adopted, not fetched
    clock.advance(60)
    with no_fetch(), pytest.raises(FetchRequired):
        b.get(key.kid)  # expired: revalidating reads the store first
    assert reads == [b.cache_key]


def test_no_fetch_is_scoped_to_its_block(key: SigningKey, fetcher: FakeFetcher,
                                         clock: Clock) -> None:
    keys = source(fetcher, clock)
    with pytest.raises(FetchRequired), no_fetch():
        keys.get(key.kid)
    assert keys.get(key.kid) and fetcher.requests == 1


def test_no_fetch_pattern_for_an_event_loop(key: SigningKey, fetcher: FakeFetcher,
                                            clock: Clock) -> None:
    """How an ASGI middleware uses it: inline first, a worker thread when told to."""
    keys = source(fetcher, clock)
    inline: list[bool] = []

    async def lookup() -> str:
        try:
            with no_fetch():
                found = keys.get(key.kid)
            inline.append(True)
        except FetchRequired:
            inline.append(False)
            found = await asyncio.to_thread(keys.get, key.kid)  # outside the block
        return found.kid

    assert asyncio.run(lookup()) == key.kid
    assert asyncio.run(lookup()) == key.kid
    assert inline == [False, True] and fetcher.requests == 1


def test_verifier_lets_fetch_required_through(key: SigningKey, fetcher: FakeFetcher,
                                              clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    fetcher.published = [fake.signing_key]
    verifier = fake.verifier(jwks_url=URL)
    verifier.keys = source(fetcher, clock)
    token = fake.token()
    with no_fetch(), pytest.raises(FetchRequired) as caught:
        verifier.verify(token)
    assert caught.value.reason == "keys_unavailable"
    assert verifier.verify(token).email  # the retry off the loop
    with no_fetch():
        assert verifier.verify(fake.token()).email  # now inline
    assert fetcher.requests == 1


def test_fetch_required_is_not_a_reason_of_its_own() -> None:
    from pomerium_wsgi.errors import REASONS

    assert REASONS["keys_unavailable"] is KeysUnavailable
    assert issubclass(FetchRequired, KeysUnavailable)
    assert str(FetchRequired()) and "token" not in str(FetchRequired())


def test_verifier_builds_its_source_with_the_policy_options() -> None:
    verifier = Verifier("app.example.com", cooldown=7, retry_interval=3, max_stale=9)
    keys = t.cast(RemoteJWKS, verifier.keys)
    assert (keys.cooldown, keys.retry_interval, keys.max_stale) == (7, 3, 9)
    with pytest.raises(JWKSError):
        raise JWKSError("importable from pomerium_wsgi.keys")


def test_the_kids_of_a_new_key_set_are_logged_escaped(clock: Clock,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    # A kid is whatever text the endpoint (or whatever answers in its place) publishes;
    # logged raw, a line break or an escape sequence in it forged or hid log lines.
    key = SigningKey("ES256")
    jwk = {**key.public_jwk(), "kid": "k1\nERROR forged\x1b[2J\u202e"}
    fetcher = FakeFetcher(key)
    fetcher.body = json.dumps({"keys": [jwk]}).encode()
    with caplog.at_level(logging.INFO, "pomerium_wsgi.keys"):
        source(fetcher, clock).refresh()
    [line] = [r.getMessage() for r in caplog.records if "JWKS from" in r.getMessage()]
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert "'k1\\nERROR forged\\x1b[2J\\u202e'" in line
