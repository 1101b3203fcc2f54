"""JWKS faults as clients see them: real HTTP to a real app, real broken JWKS endpoints.

tests/test_keys.py checks the key source call by call (500s, garbage, oversized bodies
with a Content-Length, cross-origin redirects, timeouts, cooldowns). These tests add the
faults it does not produce (connection refused, connection reset, bodies streamed with
no length, bodies that trickle in past the total time budget) and the client's view of
every fault: the status, the problem ``reason``, ``Retry-After``, and that no request
is ever lost or answered with anything but 200, 401 or the documented 503.
"""

from __future__ import annotations

import secrets
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import pytest

from pomerium_wsgi import PomeriumMiddleware, RemoteJWKS, Verifier
from pomerium_wsgi.testing import FakePomerium

from ..helpers import Clock
from .support import FaultyJWKS, Tally, request, serve_wsgi

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

pytestmark = pytest.mark.integration
Record = t.Callable[[str, Tally, str], None]


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """The protected app: it only runs for verified requests."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


def protected(verifier: Verifier) -> PomeriumMiddleware:
    return PomeriumMiddleware(hello, verifier, exempt=["/healthz"])


def fetches(verifier: Verifier) -> int:
    """HTTP requests the verifier's key source made (refused connections included)."""
    return t.cast(RemoteJWKS, verifier.keys).fetch_count


@pytest.fixture
def attacker(clock: Clock) -> FakePomerium:
    """Someone with a signing key of their own, not published by Pomerium."""
    return FakePomerium(clock=clock)


#: Faults that tests/test_keys.py does not produce; ``refused`` = nothing listening.
FAULTS = ["refused", "reset", "http-500", "garbage", "huge-streamed", "slow-headers",
          "slow-drip"]


def _break(endpoint: FaultyJWKS, fault: str) -> None:
    if fault == "refused":
        endpoint.stop()
    else:
        endpoint.mode = fault


def _mend(endpoint: FaultyJWKS) -> None:
    endpoint.mode = "ok"
    endpoint.start()  # listening again on the same port (a no-op wait if it was up)


@pytest.mark.parametrize("fault", FAULTS, ids=FAULTS)
def test_down_at_start_answers_503_then_recovers_by_itself(
        fault: str, fake: FakePomerium, attacker: FakePomerium, clock: Clock,
        record_fault: Record) -> None:
    endpoint = FaultyJWKS(fake)
    if fault != "refused":
        endpoint.start()
    _break(endpoint, fault)
    tally = Tally()
    try:
        verifier = fake.verifier(jwks_url=endpoint.url, timeout=1.0, retry_interval=5)
        with serve_wsgi(protected(verifier)) as base:
            for _ in range(10):
                answer = tally.add(request(base, fake.token()))
                assert (answer.status, answer.reason) == (503, "keys_unavailable")
                assert answer.retry_after == "5"
            # A forged token is never let through because the keys are missing.
            assert tally.add(request(base, attacker.token())).status == 503
            assert tally.add(request(base, None, "/healthz")).status == 200
            assert fetches(verifier) == 1  # one try per retry interval, not one per request
            _mend(endpoint)
            clock.advance(5)
            for _ in range(10):
                assert tally.add(request(base, fake.token())).status == 200
            answer = tally.add(request(base, attacker.token()))
            assert (answer.status, answer.reason) == (401, "unknown_key")
            # The first request after the retry interval fetched; the forged kid refetched.
            assert fetches(verifier) == 3
    finally:
        endpoint.stop()
    assert tally.lost == 0
    record_fault(f"down at start: {fault}, then up", tally, str(fetches(verifier)))


@pytest.mark.parametrize("fault", FAULTS, ids=FAULTS)
def test_down_after_first_fetch_serves_stale_keys_up_to_the_limit(
        fault: str, fake: FakePomerium, attacker: FakePomerium, clock: Clock,
        record_fault: Record) -> None:
    tally = Tally()
    with FaultyJWKS(fake, max_age=60) as endpoint:
        verifier = fake.verifier(jwks_url=endpoint.url, timeout=1.0, retry_interval=5,
                                 max_stale=600)
        with serve_wsgi(protected(verifier)) as base:
            assert tally.add(request(base, fake.token())).status == 200
            _break(endpoint, fault)
            clock.advance(61)  # the document expired: the refresh fails, stale keys serve
            for _ in range(10):
                assert tally.add(request(base, fake.token())).status == 200
            answer = tally.add(request(base, attacker.token(header={"kid": fake.signing_key.kid})))
            assert (answer.status, answer.reason) == (401, "signature")
            assert fetches(verifier) == 2
            clock.advance(600)  # past max_stale: the old keys are no longer trusted
            for _ in range(5):
                answer = tally.add(request(base, fake.token()))
                assert (answer.status, answer.reason) == (503, "keys_unavailable")
            assert fetches(verifier) == 3
            _mend(endpoint)
            clock.advance(5)
            for _ in range(5):
                assert tally.add(request(base, fake.token())).status == 200
            assert fetches(verifier) == 4
    assert tally.lost == 0
    record_fault(f"down after first fetch: {fault} (stale 600 s)", tally,
                 str(fetches(verifier)))


@pytest.mark.parametrize(
    "mode, expected, label",
    [("ok", {"200": 50}, "50 threads, cold cache"),
     # The waiters reuse the failed result instead of each retrying in turn.
     ("http-500", {"503 keys_unavailable": 50},
      "50 threads, cold cache, endpoint answering 500")],
    ids=["endpoint-up", "endpoint-failing"],
)
def test_fifty_threads_on_a_cold_cache_make_one_fetch(
        mode: str, expected: dict[str, int], label: str, fake: FakePomerium,
        record_fault: Record) -> None:
    tally = Tally()
    with FaultyJWKS(fake) as endpoint:
        endpoint.delay = 0.5  # every caller arrives while the one fetch is in flight
        endpoint.mode = mode
        verifier = fake.verifier(jwks_url=endpoint.url)
        barrier = threading.Barrier(50)

        def one() -> None:
            token = fake.token()
            barrier.wait(30)
            tally.add(request(base, token))

        with serve_wsgi(protected(verifier)) as base, ThreadPoolExecutor(50) as pool:
            for future in [pool.submit(one) for _ in range(50)]:
                future.result(60)
        assert tally.counts == expected
        assert endpoint.requests == 1 and fetches(verifier) == 1
    record_fault(label, tally, str(fetches(verifier)))


def test_a_thousand_unknown_kids_make_at_most_one_fetch_per_cooldown(
        attacker: FakePomerium, record_fault: Record) -> None:
    fake = FakePomerium()  # real time: the flood runs on the wall clock
    tally = Tally()
    with FaultyJWKS(fake) as endpoint:
        verifier = fake.verifier(jwks_url=endpoint.url, cooldown=30)
        with serve_wsgi(protected(verifier)) as base:
            assert tally.add(request(base, fake.token())).status == 200
            started = time.monotonic()

            def flood(i: int) -> tuple[bool, int | None]:
                if i % 11 == 0:  # genuine users keep being served during the flood
                    return True, tally.add(request(base, fake.token())).status
                token = attacker.token(header={"kid": secrets.token_hex(32)})
                answer = tally.add(request(base, token))
                return False, answer.status if answer.reason == "unknown_key" else None

            with ThreadPoolExecutor(20) as pool:
                outcomes = list(pool.map(flood, range(1100)))
            elapsed = time.monotonic() - started
    assert all(status == (200 if valid else 401) for valid, status in outcomes)
    assert tally.counts["401 unknown_key"] == 1000 and tally.counts["200"] == 101
    # The first fetch, then one refetch per cooldown the flood spanned.
    assert 2 <= endpoint.requests <= 2 + int(elapsed // 30)
    record_fault("1,000 unknown kids (+100 valid) from 20 threads", tally,
                 str(endpoint.requests))


def test_rotation_new_key_at_once_removed_key_refused_after_expiry(
        fake: FakePomerium, clock: Clock, record_fault: Record) -> None:
    tally = Tally()
    with FaultyJWKS(fake, max_age=60) as endpoint:
        verifier = fake.verifier(jwks_url=endpoint.url)
        with serve_wsgi(protected(verifier)) as base:
            assert tally.add(request(base, fake.token())).status == 200
            old = fake.signing_key
            fake.rotate()  # old and new published; the new one signs
            assert tally.add(request(base, fake.token())).status == 200  # at once
            assert tally.add(request(base, fake.token(key=old))).status == 200
            fake.retire(old.kid)
            clock.advance(30)  # the cached document is still fresh
            assert tally.add(request(base, fake.token(key=old))).status == 200
            clock.advance(31)  # ... and now it has expired
            answer = tally.add(request(base, fake.token(key=old)))
            assert (answer.status, answer.reason) == (401, "unknown_key")
            assert tally.add(request(base, fake.token())).status == 200
    # First fetch, the new kid, and at expiry the routine refresh, which also answers for
    # the removed kid (no second lookup right after a fresh fetch).
    assert fetches(verifier) == 3
    record_fault("rotation: new key signs, old removed", tally, str(fetches(verifier)))


def test_rotation_during_an_unknown_kid_flood_is_seen_by_the_next_routine_refresh(
        fake: FakePomerium, attacker: FakePomerium, clock: Clock,
        record_fault: Record) -> None:
    """A trade-off of the global cooldown, pinned down so it stays bounded.

    An unknown ``kid`` may refetch once per cooldown, whoever sent it. When a forged
    token has just used that refetch, a key Pomerium starts signing with a moment later
    cannot be looked up until the cooldown ends or the cached document expires
    (whichever is first): its tokens get 401 ``unknown_key`` for at most
    ``min(cooldown, max-age)``. It never lasts longer, and the flood causes no extra fetch.
    """
    tally = Tally()
    with FaultyJWKS(fake, max_age=60) as endpoint:
        verifier = fake.verifier(jwks_url=endpoint.url, cooldown=30)
        with serve_wsgi(protected(verifier)) as base:
            assert tally.add(request(base, fake.token())).status == 200
            clock.advance(10)
            forged = attacker.token(header={"kid": secrets.token_hex(32)})
            assert tally.add(request(base, forged)).reason == "unknown_key"
            assert fetches(verifier) == 2
            fake.rotate()
            clock.advance(1)
            answer = tally.add(request(base, fake.token()))
            assert (answer.status, answer.reason) == (401, "unknown_key")
            clock.advance(29)  # the cooldown is over: the new kid is looked up
            assert tally.add(request(base, fake.token())).status == 200
            assert fetches(verifier) == 3
    record_fault("rotation right after a forged-kid refetch (cooldown 30 s)", tally,
                 str(fetches(verifier)))
