"""The JWKS shared through a real redis-server: one fetch for a fleet, nothing pickled,
bad entries ignored, and a Redis that dies, comes back or hangs never fails a request."""

from __future__ import annotations

import json
import pathlib
import pickle
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import pytest

from pomerium_wsgi import PomeriumMiddleware, RemoteJWKS, UnknownKey, Verifier
from pomerium_wsgi.signals import keys_refresh_failed
from pomerium_wsgi.testing import FakePomerium

from ..helpers import Clock
from .support import FaultyJWKS, RedisServer, Tally, request, serve_wsgi

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

pytestmark = pytest.mark.integration
Record = t.Callable[[str, Tally, str], None]
MakeCache = t.Callable[[], t.Any]


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


def redis_key(verifier: Verifier) -> str:
    """Where the verifier's entry lives in Redis (cachelib adds the key prefix)."""
    return "pw:" + t.cast(RemoteJWKS, verifier.keys).cache_key


class Touch:
    """Pickles to a call that creates a file: proof of whether anything was unpickled."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[t.Any, ...]:
        return (pathlib.Path.touch, (self.path,))


def test_a_fleet_sharing_redis_fetches_once(redis_server: RedisServer, redis_cache: MakeCache,
                                            record_fault: Record) -> None:
    fake = FakePomerium()
    tally = Tally()
    with FaultyJWKS(fake) as endpoint:
        # Eight workers, each with its own Redis connection, as gunicorn processes have.
        workers = [fake.verifier(jwks_url=endpoint.url, cache=redis_cache()) for _ in range(8)]
        for verifier in workers:
            with serve_wsgi(PomeriumMiddleware(hello, verifier)) as base:
                for _ in range(3):
                    assert tally.add(request(base, fake.token())).status == 200
        assert endpoint.requests == 1
    raw = redis_server.client().get(redis_key(workers[0]))
    # JSON text, written raw: not a pickle, and readable by any other language.
    entry = json.loads(raw)
    assert entry["url"] == endpoint.url and json.loads(entry["jwks"]) == fake.jwks
    assert 0 < redis_server.client().ttl(redis_key(workers[0])) <= 60 + 3600
    record_fault("8 workers sharing one Redis, cold", tally, str(endpoint.requests))


def _bad_entries(url: str, attacker: FakePomerium, now: float,
                 marker: pathlib.Path) -> dict[str, bytes]:
    def entry(**overrides: t.Any) -> bytes:
        base = {"url": url, "jwks": json.dumps(attacker.jwks), "etag": None,
                "fetched_at": now, "expires_at": now + 60}
        return json.dumps({**base, **overrides}).encode()

    return {
        "garbage": b"\x00\xff not json",
        "pickle-payload": pickle.dumps(Touch(marker)),
        "cachelib-pickled-json": b"!" + pickle.dumps(entry()),
        "json-not-object": b"[1, 2, 3]",
        "other-url": entry(url="https://evil.example.com/jwks.json"),
        "jwks-not-text": entry(jwks=attacker.jwks),
        "fetched-in-the-future": entry(fetched_at=now + 3600, expires_at=now + 3660),
        "lifetime-over-max-age": entry(expires_at=now + 10 * 86400),
        "not-a-jwks": entry(jwks='{"hello": "world"}'),
    }


BAD_ENTRIES = list(_bad_entries("u", FakePomerium(), 0, pathlib.Path("m")))


@pytest.mark.parametrize("kind", BAD_ENTRIES, ids=BAD_ENTRIES)
def test_a_bad_entry_in_redis_is_ignored_and_replaced(
        kind: str, redis_server: RedisServer, redis_cache: MakeCache,
        tmp_path: pathlib.Path) -> None:
    clock = Clock()
    fake, attacker = FakePomerium(clock=clock), FakePomerium(clock=clock)
    marker = tmp_path / "unpickled"
    with FaultyJWKS(fake) as endpoint:
        verifier = fake.verifier(jwks_url=endpoint.url, cache=redis_cache())
        raw = redis_server.client()
        raw.set(redis_key(verifier), _bad_entries(endpoint.url, attacker, clock(), marker)[kind])
        with serve_wsgi(PomeriumMiddleware(hello, verifier)) as base:
            assert request(base, fake.token()).status == 200
            assert endpoint.requests == 1  # the bad entry was not taken as fresh keys
            entry = json.loads(raw.get(redis_key(verifier)))
            assert entry["url"] == endpoint.url and json.loads(entry["jwks"]) == fake.jwks
            answer = request(base, attacker.token())
            assert (answer.status, answer.reason) == (401, "unknown_key")
        assert not marker.exists(), "an entry read from Redis was unpickled"


def test_redis_down_at_start_falls_back_to_the_network(
        redis_server: RedisServer, redis_cache: MakeCache, record_fault: Record) -> None:
    fake = FakePomerium()
    failures: list[BaseException] = []

    def on_failed(sender: object, **kw: t.Any) -> None:
        failures.append(kw["error"])

    redis_server.kill()
    tally = Tally()
    keys_refresh_failed.connect(on_failed)
    try:
        with FaultyJWKS(fake) as endpoint:
            workers = [fake.verifier(jwks_url=endpoint.url, cache=redis_cache())
                       for _ in range(3)]
            for verifier in workers:
                with serve_wsgi(PomeriumMiddleware(hello, verifier)) as base:
                    for _ in range(5):
                        assert tally.add(request(base, fake.token())).status == 200
            # Without the shared cache each worker fetches for itself, once.
            assert endpoint.requests == 3
    finally:
        keys_refresh_failed.disconnect(on_failed)
    assert failures, "a cache failure must be reported through keys_refresh_failed"
    assert tally.lost == 0
    record_fault("Redis down at start (3 workers)", tally, str(endpoint.requests))


def test_redis_killed_restarted_and_frozen_while_serving(
        redis_server: RedisServer, redis_cache: MakeCache, record_fault: Record) -> None:
    """Three workers behind real HTTP, served continuously for about 14 s while Redis
    is killed (3 s), restarted empty, then frozen with SIGSTOP (3 s) and thawed.

    Every valid token is accepted, every forged one refused, none is lost, and the
    JWKS fetches stay within one per document lifetime per worker.
    """
    fake, attacker = FakePomerium(), FakePomerium()
    tally, forged_tally = Tally(), Tally()
    stop = threading.Event()
    wrong: list[str] = []

    with FaultyJWKS(fake, max_age=5) as endpoint:  # 5 s: the shortest lifetime allowed
        workers = [fake.verifier(jwks_url=endpoint.url, cache=redis_cache())
                   for _ in range(3)]
        servers = [serve_wsgi(PomeriumMiddleware(hello, v)) for v in workers]
        bases = [s.__enter__() for s in servers]
        try:
            def client(n: int) -> None:
                i = 0
                while not stop.is_set():
                    base = bases[(n + i) % len(bases)]
                    i += 1
                    if i % 4 == 0:
                        answer = forged_tally.add(request(base, attacker.token()))
                        if answer.status != 401:
                            wrong.append(f"forged token got {answer.label}")
                    else:
                        answer = tally.add(request(base, fake.token()))
                        if answer.status != 200:
                            wrong.append(f"valid token got {answer.label}")
                    time.sleep(0.01)

            started = time.monotonic()
            with ThreadPoolExecutor(6) as pool:
                futures = [pool.submit(client, n) for n in range(6)]
                time.sleep(3)
                redis_server.kill()
                time.sleep(3)
                redis_server.start()
                time.sleep(3)
                redis_server.freeze()
                time.sleep(3)
                redis_server.thaw()
                time.sleep(2)
                stop.set()
                for future in futures:
                    future.result(60)
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            for server in servers:
                server.__exit__(None, None, None)
    assert not wrong, wrong[:5]
    assert tally.lost == 0 and forged_tally.lost == 0
    assert tally.counts["200"] > 100 and forged_tally.counts["401 unknown_key"] > 30
    # At worst every worker fetches once per 5 s lifetime plus once per forged-kid
    # cooldown (30 s), with one extra each for the starts.
    bound = len(workers) * (int(elapsed // 5) + 2 + int(elapsed // 30) + 1)
    assert endpoint.requests <= bound
    # The restarted Redis holds the JSON entry again.
    assert json.loads(redis_server.client().get(redis_key(workers[0])))["url"] == endpoint.url
    merged = Tally()
    merged.counts = tally.counts + forged_tally.counts
    record_fault("Redis killed 3 s, restarted empty, frozen 3 s (3 workers, 14 s)", merged,
                 f"{endpoint.requests} (bound {bound})")


def test_workers_whose_copies_expire_together_make_one_fetch(
        redis_server: RedisServer, redis_cache: MakeCache, record_fault: Record) -> None:
    """The fleet fetches about once per max-age, not once per worker, under load too.

    Workers that adopted the same shared entry also share its expiry time, so under
    steady traffic they all find it expired at the same moment. Each then reads the
    expired entry before any of them has written a new one, and each fetches: the
    shared cache saves nothing at the moment it is meant to. The right behaviour is
    one refresh for the fleet (the others keep serving the still-trusted keys they
    hold, or wait for the one refresh), which is what this asserts.
    """
    clock = Clock()
    fake = FakePomerium(clock=clock)
    tally = Tally()
    with FaultyJWKS(fake, max_age=60) as endpoint:
        workers = [fake.verifier(jwks_url=endpoint.url, cache=redis_cache())
                   for _ in range(3)]
        for verifier in workers:
            verifier.verify(fake.token())
        assert endpoint.requests == 1
        endpoint.delay = 0.5  # the refresh takes a moment, as over a real network
        clock.advance(61)
        barrier = threading.Barrier(len(workers))

        def serve(verifier: Verifier) -> None:
            barrier.wait(30)
            with serve_wsgi(PomeriumMiddleware(hello, verifier)) as base:
                tally.add(request(base, fake.token()))

        with ThreadPoolExecutor(len(workers)) as pool:
            for future in [pool.submit(serve, v) for v in workers]:
                future.result(60)
        refreshes = endpoint.requests - 1
    record_fault("3 workers' shared copy expires at once (Redis up)", tally,
                 f"{refreshes} refreshes (want 1)")
    assert tally.counts == {"200": 3}
    assert refreshes == 1, f"{refreshes} workers refreshed the shared JWKS, not one"


def test_fleet_markers_are_written_with_an_expiry(
        redis_server: RedisServer, redis_cache: MakeCache) -> None:
    clock = Clock()
    fake = FakePomerium(clock=clock)
    raw = redis_server.client()
    ttls: dict[str, int] = {}
    with FaultyJWKS(fake) as endpoint:
        verifier = fake.verifier(jwks_url=endpoint.url, cache=redis_cache())
        refresh = redis_key(verifier) + ":refresh"
        endpoint.delay = 0.5  # long enough to see the refresh marker while it is held
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                if raw.exists(refresh):
                    ttls["refresh"] = raw.ttl(refresh)
                    return
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        assert verifier.verify(fake.token()).email
        stop.set()
        watcher.join(5)
        assert not raw.exists(refresh)  # released after the fetch
        with pytest.raises(UnknownKey):
            verifier.verify(FakePomerium(clock=clock).token())
        ttls["kid"] = raw.ttl(redis_key(verifier) + ":kid")
    assert 0 < ttls["refresh"] <= 6 and 0 < ttls["kid"] <= 30, ttls


@pytest.mark.parametrize("value", [b"1e18", b"inf", b"garbage", b"near"],
                         ids=["far-future", "infinite", "garbage", "plausible-deadline"])
def test_a_marker_without_expiry_cannot_stall_a_worker_or_stop_rotation(
        value: bytes, redis_server: RedisServer, redis_cache: MakeCache) -> None:
    clock = Clock()
    fake = FakePomerium(clock=clock)
    raw = redis_server.client()
    with FaultyJWKS(fake) as endpoint:
        verifier = fake.verifier(jwks_url=endpoint.url, cache=redis_cache(), timeout=2)
        key = redis_key(verifier)
        planted = repr(clock() + 2).encode() if value == b"near" else value
        for suffix in (":refresh", ":kid"):
            raw.set(key + suffix, planted)  # no expiry, as an older version or an attacker
            assert raw.ttl(key + suffix) == -1
        started = time.monotonic()
        assert verifier.verify(fake.token()).email  # a cold worker
        if value == b"near":
            # A deadline a worker could have written is respected (the worker waited
            # for the fleet, then fetched itself), and the marker now expires.
            assert raw.pttl(key + ":refresh") > 0
        else:
            assert time.monotonic() - started < 1.5  # taken over at once, no wait
        fake.rotate()
        clock.advance(6)  # past any deadline a worker could have written
        assert verifier.verify(fake.token()).email  # the new kid is looked up
        assert endpoint.requests == 2
    for suffix in (":refresh", ":kid"):
        assert raw.ttl(key + suffix) != -1, "a marker without expiry was left in Redis"
