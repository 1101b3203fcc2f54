"""Load under faults: the example app under gunicorn (3 workers sharing keys through a
real Redis), a thread-pool client sending valid, expired, forged, tampered and missing
tokens for about 34 s while the JWKS endpoint starts out down, rotates its key and has
a second outage.

Run alone with ``pytest -m load -s tests/integration`` to see the summary tables.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import pytest

from pomerium_wsgi.testing import FakePomerium, SigningKey

from .support import Answer, FaultyJWKS, RedisServer, Tally, free_port, request, wait_until

pytestmark = pytest.mark.integration
ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKERS = 3
RETRY_INTERVAL = 1.0
MAX_AGE = 5  # the shortest document lifetime the library accepts
COOLDOWN = 30.0  # the library's default unknown-kid cooldown
SLACK = 4.0  # seconds of scheduling noise tolerated around each phase change

#: (seconds from the start, what happens); the load stops at the last entry.
TIMELINE = [
    (3.0, "JWKS up (it was down at start)"),
    (8.0, "next key published (not signing yet)"),
    (16.0, "next key signs"),
    (20.0, "old key removed"),
    (22.0, "JWKS down"),
    (28.0, "JWKS up"),
    (34.0, "stop"),
]
OUTAGE_SECONDS = 3.0 + 6.0

KINDS = ["valid", "expired", "forged-kid", "forged-signature", "tampered", "missing",
         "valid", "healthz"]
EXPECTED = {
    "valid": "200",
    "expired": "401 expired",
    "forged-kid": "401 unknown_key",
    "forged-signature": "401 signature",
    "tampered": "401 signature",
    "missing": "401 missing",
    "healthz": "200",
}


def _tamper(token: str) -> str:
    """The same signature over a payload that now claims another email."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "admin@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log: pathlib.Path,
             app: str = "tests.integration.fleet_app:app") -> t.Iterator[str]:
    """Serve *app* under gunicorn with WORKERS workers; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}",
             "--timeout", "60", "--graceful-timeout", "3", app],
            cwd=ROOT, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: process.poll() is not None
                       or request(base, None, "/healthz", timeout=2).status == 200,
                       30, "gunicorn answering /healthz")
            assert process.poll() is None, log.read_text()
            yield base
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


@pytest.mark.load
def test_fleet_under_load_with_rotation_and_outages(
        redis_server: RedisServer, tmp_path: pathlib.Path, record_fault: t.Any) -> None:
    fake, attacker = FakePomerium(), FakePomerium()
    old_key = fake.signing_key
    next_key = SigningKey()
    outcomes: list[tuple[str, float, Answer]] = []
    outcomes_lock = threading.Lock()
    stop = threading.Event()
    with FaultyJWKS(fake, max_age=MAX_AGE) as endpoint:
        endpoint.mode = "http-500"  # down at start
        env = {"POMERIUM_AUDIENCE": fake.audience, "POMERIUM_JWKS_URL": endpoint.url,
               "POMERIUM_REDIS_PORT": str(redis_server.port),
               "POMERIUM_RETRY_INTERVAL": str(RETRY_INTERVAL)}
        with gunicorn(env, tmp_path / "gunicorn.log") as base:
            assert endpoint.requests == 0  # /healthz is exempt: no keys were needed

            def token_for(kind: str) -> str | None:
                if kind == "valid":
                    return fake.token(groups=["staff"])
                if kind == "expired":
                    now = int(time.time())
                    return fake.token(iat=now - 900, exp=now - 600)
                if kind == "forged-kid":
                    return attacker.token()
                if kind == "forged-signature":
                    return attacker.token(header={"kid": fake.signing_key.kid})
                if kind == "tampered":
                    return _tamper(fake.token())
                return None

            def client(n: int) -> None:
                i = n
                while not stop.is_set():
                    kind = KINDS[i % len(KINDS)]
                    i += 1
                    sent = time.monotonic()
                    path = "/healthz" if kind == "healthz" else "/"
                    answer = request(base, token_for(kind), path)
                    with outcomes_lock:
                        outcomes.append((kind, sent, answer))

            fetches_at: list[tuple[str, int]] = []
            t0 = time.monotonic()
            marks: dict[str, float] = {}
            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(client, n) for n in range(8)]
                for at, event in TIMELINE:
                    time.sleep(max(0.0, t0 + at - time.monotonic()))
                    marks[event] = time.monotonic()
                    fetches_at.append((event, endpoint.requests))
                    if event.startswith("JWKS up"):
                        endpoint.mode = "ok"
                    elif event == "JWKS down":
                        endpoint.mode = "http-500"
                    elif event.startswith("next key published"):
                        fake.keys.append(next_key)
                    elif event == "next key signs":
                        fake.keys[:] = [next_key, old_key]
                    elif event == "old key removed":
                        fake.retire(old_key.kid)
                stop.set()
                for future in futures:
                    future.result(60)
            duration = time.monotonic() - t0
            # Tokens of the removed key are refused now that every worker has refreshed.
            retired = [request(base, fake.token(key=old_key)) for _ in range(12)]
        total_fetches = endpoint.requests

    # -- the summary (pytest -s shows it) -------------------------------------------------
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for kind, _, answer in outcomes:
        table[kind][answer.label] += 1
    print(f"\nload: {len(outcomes)} requests in {duration:.1f} s from 8 threads, "
          f"{WORKERS} gunicorn workers sharing Redis")
    print(f"{'kind':<18}{'outcomes'}")
    for kind in EXPECTED:
        print(f"{kind:<18}{dict(table[kind])}")
    print(f"{'retired key, after':<18}{dict(collections.Counter(a.label for a in retired))}")
    print("JWKS fetches by the start of each phase:")
    previous = 0
    for event, count in fetches_at:
        print(f"  {event:<40} total {count:>3}  (+{count - previous})")
        previous = count
    print(f"  total {total_fetches}; {int(duration / MAX_AGE)} document lifetimes of "
          f"{MAX_AGE} s, {OUTAGE_SECONDS:.0f} s of outage, retry every {RETRY_INTERVAL} s")

    # -- the assertions ---------------------------------------------------------------------
    cold_until = marks["JWKS up (it was down at start)"] + RETRY_INTERVAL + SLACK
    problems: list[str] = []
    for kind, sent, answer in outcomes:
        label = answer.label
        if answer.status is None:
            problems.append(f"{kind}: lost")
        elif kind != "valid" and answer.status == 200 and kind != "healthz":
            problems.append(f"{kind}: accepted")
        elif answer.status >= 500 and label != "503 keys_unavailable":
            problems.append(f"{kind}: {label}")
        elif label != EXPECTED[kind] and not (
                # The only other answer allowed: 503 while no worker could have keys yet.
                label == "503 keys_unavailable" and sent < cold_until
                and kind not in ("missing", "healthz")):
            problems.append(f"{kind} at {sent - t0:.1f} s: {label}")
    assert not problems, f"{len(problems)} wrong answers, first: {problems[:10]}"
    assert table["valid"]["200"] > 200, "too few requests to show anything"
    assert all(a.label == "401 unknown_key" for a in retired)
    # Per worker at most: one routine fetch per document lifetime (workers that share
    # an entry also expire together, see test_redis), one forged-kid refetch per
    # cooldown, and one retry per retry interval during the outages.
    bound = WORKERS * (int(duration / MAX_AGE) + 1 + int(duration / COOLDOWN) + 1
                       + int(OUTAGE_SECONDS / RETRY_INTERVAL) + 2)
    print(f"  bound asserted: {bound}")
    assert total_fetches <= bound

    merged = Tally()
    for _, _, answer in outcomes:
        merged.add(answer)
    record_fault("load: 3 gunicorn workers + Redis, 34 s, down at start, rotation, "
                 "6 s outage", merged, f"{total_fetches} (bound {bound})")


def test_the_unmodified_example_under_gunicorn_workers(tmp_path: pathlib.Path,
                                                       record_fault: t.Any) -> None:
    """``examples.wsgi.app:app`` as shipped (two env settings, no shared cache)."""
    fake, attacker = FakePomerium(), FakePomerium()
    tally = Tally()
    with FaultyJWKS(fake) as endpoint:
        env = {"POMERIUM_AUDIENCE": fake.audience, "POMERIUM_JWKS_URL": endpoint.url}
        with gunicorn(env, tmp_path / "gunicorn.log", "examples.wsgi.app:app") as base:
            for _ in range(10):
                assert tally.add(request(base, fake.token())).status == 200
                answer = tally.add(request(base, attacker.token()))
                assert (answer.status, answer.reason) == (401, "unknown_key")
                assert tally.add(request(base, None)).status == 401
                admin = tally.add(request(base, fake.token(groups=["admins"]), "/admin"))
                assert admin.status == 200
                assert tally.add(request(base, fake.token(), "/admin")).status == 403
        # Each worker keeps its own keys: at most one fetch and one forged-kid refetch.
        assert 1 <= endpoint.requests <= 2 * WORKERS
    assert tally.lost == 0
    record_fault("examples.wsgi.app under gunicorn -w 3 (no shared cache)", tally,
                 str(endpoint.requests))
