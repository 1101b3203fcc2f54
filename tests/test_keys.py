"""keys.py: JWKS parsing, fetching from a real loopback server, caching and rotation."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import typing as t

import pytest
from cachelib import BaseCache, SimpleCache
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey

from pomerium_wsgi import KeysUnavailable, RemoteJWKS, UnknownKey, Verifier
from pomerium_wsgi.keys import JWKSError, parse_jwks, parse_pem, pomerium_kid
from pomerium_wsgi.signals import keys_refresh_failed, keys_refreshed
from pomerium_wsgi.testing import FakePomerium, SigningKey

from .helpers import Clock, JWKSServer, b64, jwks_answer


class Recorder:
    """Collects signal sends (connected for the duration of a test)."""

    def __init__(self) -> None:
        self.refreshed: list[dict[str, t.Any]] = []
        self.failed: list[dict[str, t.Any]] = []

    def on_refreshed(self, sender: object, **kw: t.Any) -> None:
        self.refreshed.append({"sender": sender, **kw})

    def on_failed(self, sender: object, **kw: t.Any) -> None:
        self.failed.append({"sender": sender, **kw})


@pytest.fixture
def signals() -> t.Iterator[Recorder]:
    recorder = Recorder()
    keys_refreshed.connect(recorder.on_refreshed)
    keys_refresh_failed.connect(recorder.on_failed)
    yield recorder
    keys_refreshed.disconnect(recorder.on_refreshed)
    keys_refresh_failed.disconnect(recorder.on_failed)


# -- parsing ------------------------------------------------------------------------------

def _ec(curve: ec.EllipticCurve = ec.SECP256R1()) -> dict[str, t.Any]:
    return dict(ECKey.import_key(ec.generate_private_key(curve).public_key()).as_dict())


def _rsa(bits: int = 2048) -> dict[str, t.Any]:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key(
    ).public_numbers()
    as_b64 = lambda n: b64(n.to_bytes((n.bit_length() + 7) // 8))  # noqa: E731
    return {"kty": "RSA", "n": as_b64(numbers.n), "e": as_b64(numbers.e)}


def test_parse_binds_each_key_to_its_algorithm() -> None:
    ec_key, rsa_key = _ec(), _rsa()
    keys = parse_jwks({"keys": [{**ec_key, "kid": "e"}, {**rsa_key, "kid": "r"}]})
    assert keys["e"].algorithm == "ES256" and keys["r"].algorithm == "RS256"


def test_parse_computes_pomerium_kid_when_absent() -> None:
    entry = _ec()
    entry.pop("kid", None)
    (kid,) = parse_jwks({"keys": [entry]})
    assert kid == pomerium_kid(entry) and len(kid) == 64


UNUSABLE = {
    "use-enc": lambda: {**_ec(), "use": "enc"},
    "key-ops-sign-only": lambda: {**_ec(), "key_ops": ["sign"]},
    "key-ops-not-list": lambda: {**_ec(), "key_ops": "verify"},
    "p384": lambda: _ec(ec.SECP384R1()),
    "alg-mismatch": lambda: {**_ec(), "alg": "RS256"},
    "alg-hmac": lambda: {**_ec(), "alg": "HS256"},
    "rsa-1024": lambda: _rsa(1024),
    "oct": lambda: {"kty": "oct", "k": "c2VjcmV0"},
    "off-curve": lambda: {**_ec(), "y": _ec()["y"]},
    "missing-x": lambda: {k: v for k, v in _ec().items() if k != "x"},
    "x-not-string": lambda: {**_ec(), "x": 5},
    "not-object": lambda: "key",
    "kid-not-string": lambda: {**_ec(), "kid": 7},
    "kid-too-long": lambda: {**_ec(), "kid": "k" * 300},
}


@pytest.mark.parametrize("make", list(UNUSABLE.values()), ids=list(UNUSABLE))
def test_unusable_keys_are_skipped_with_a_log_line(make: t.Callable[[], t.Any],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    good = {**_ec(), "kid": "good"}
    with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"):
        keys = parse_jwks({"keys": [make(), good]})
    assert list(keys) == ["good"]
    assert caplog.records


def _int_b64(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8))


RSA_EXPONENTS = {
    "e-3": (3, "outside"),
    "e-2^16": (2**16, "outside"),
    "e-even": (2**16 + 2, "even"),
    "e-2^256+1": (2**256 + 1, "outside"),
    "e-about-2^2040": (2**2040 + 1, "outside"),
    "e-2^256": (2**256, "outside"),
}


@pytest.mark.parametrize("exponent, why", list(RSA_EXPONENTS.values()), ids=list(RSA_EXPONENTS))
def test_rsa_key_with_an_unsafe_exponent_is_skipped_with_the_reason(
        exponent: int, why: str, caplog: pytest.LogCaptureFixture) -> None:
    bad = {**_rsa(), "e": _int_b64(exponent), "kid": "bad"}
    with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"):
        keys = parse_jwks({"keys": [bad, {**_ec(), "kid": "good"}]})
    assert list(keys) == ["good"]
    assert "RSA exponent" in caplog.text and why in caplog.text


@pytest.mark.parametrize("exponent", [2**16 + 1, 2**256 - 1], ids=["65537", "2^256-1"])
def test_rsa_exponents_inside_the_bounds_are_accepted(exponent: int) -> None:
    keys = parse_jwks({"keys": [{**_rsa(), "e": _int_b64(exponent), "kid": "r"}]})
    assert keys["r"].algorithm == "RS256"


def test_rsa_modulus_under_2048_bits_is_skipped_with_the_reason(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"):
        assert parse_jwks({"keys": [{**_rsa(1536), "kid": "short"}]}) == {}
    assert "1536 bits is under 2048" in caplog.text


def test_duplicate_kid_refused_for_every_key_carrying_it() -> None:
    keys = parse_jwks({"keys": [{**_ec(), "kid": "dup"}, {**_ec(), "kid": "ok"},
                                {**_ec(), "kid": "dup"}, {**_ec(), "kid": "dup"}]})
    assert list(keys) == ["ok"]


def test_published_private_key_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    private = dict(ECKey.generate_key("P-256").as_dict(private=True))
    with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"):
        keys = parse_jwks({"keys": [{**private, "kid": "p"}, {**_ec(), "kid": "ok"}]})
    assert list(keys) == ["ok"]
    assert "private" in caplog.text


@pytest.mark.parametrize("document", [{"keys": None}, {"keys": []}], ids=["null", "empty"])
def test_empty_key_sets(document: dict[str, t.Any]) -> None:
    assert parse_jwks(document) == {}


@pytest.mark.parametrize("document", ["[]", "{}", '{"keys": {}}', "nope", b"\xff", 5],
                         ids=["list", "no-keys", "keys-object", "not-json", "bytes", "int"])
def test_not_a_jwks(document: t.Any) -> None:
    with pytest.raises(JWKSError):
        parse_jwks(document)


def test_parse_pem_public_and_private() -> None:
    key = SigningKey("ES256")
    rsa_key = SigningKey("RS256")
    pem = key.private_pem() + rsa_key.key.as_pem(private=False)
    keys = parse_pem(pem)
    assert set(keys) == {key.kid, rsa_key.kid}
    assert not keys[key.kid].jwk.is_private


# -- fetching -----------------------------------------------------------------------------

def test_fetch_caches_for_max_age_then_revalidates_with_etag(
        fake: FakePomerium, clock: Clock, signals: Recorder) -> None:
    with fake.serve() as url:
        verifier = fake.verifier(jwks_url=url)
        keys = t.cast(RemoteJWKS, verifier.keys)
        for _ in range(5):
            verifier.verify(fake.token())
        assert fake.jwks_requests == 1
        assert signals.refreshed[0]["key_ids"] == (fake.signing_key.kid,)
        assert signals.refreshed[0]["url"] == url and signals.refreshed[0]["sender"] is keys
        key_object = keys.get(fake.signing_key.kid)
        clock.advance(61)
        verifier.verify(fake.token())
        assert fake.jwks_requests == 2
        # 304: the same decoded key object is kept, nothing re-parsed.
        assert keys.get(fake.signing_key.kid) is key_object
        assert keys.generation == 1


@pytest.mark.parametrize("cache_control, expected_age",
                         [("max-age=0", 5), ("max-age=999999999", 86400), ("", 300),
                          ("no-store", 5), ('public, max-age="120"', 120)],
                         ids=["zero", "huge", "absent", "no-store", "quoted"])
def test_max_age_is_clamped(cache_control: str, expected_age: int, clock: Clock) -> None:
    document = FakePomerium().jwks
    answer = lambda headers: (200, {"Cache-Control": cache_control},  # noqa: E731
                              json.dumps(document).encode())
    with JWKSServer(answer) as server:
        keys = RemoteJWKS(server.url, clock=clock)
        keys.refresh()
        assert keys._state is not None
        assert keys._state.expires_at - clock.now == expected_age


def test_rotation_new_kid_is_fetched_at_once_and_removed_key_expires(
        fake: FakePomerium, clock: Clock) -> None:
    with fake.serve() as url:
        verifier = fake.verifier(jwks_url=url)
        old_token = fake.token()
        verifier.verify(old_token)
        old = fake.signing_key
        fake.rotate()
        new_token = fake.token()
        # Right after a routine fetch, a new kid is still looked up at once.
        assert verifier.verify(new_token).email
        assert fake.jwks_requests == 2
        assert verifier.verify(fake.token(key=old)).email  # old key still published
        fake.retire(old.kid)
        clock.advance(30)
        assert verifier.verify(fake.token(key=old)).email  # cached document still fresh
        clock.advance(31)
        with pytest.raises(UnknownKey):
            verifier.verify(fake.token(key=old))
        # A token verified earlier by the removed key is not served from the token cache.
        with pytest.raises(UnknownKey):
            verifier.verify(old_token)
        assert verifier.verify(fake.token()).email


def test_unknown_kids_refetch_at_most_once_per_cooldown(fake: FakePomerium, clock: Clock) -> None:
    with fake.serve() as url:
        verifier = fake.verifier(jwks_url=url, cooldown=30)
        verifier.verify(fake.token())
        assert fake.jwks_requests == 1
        for _ in range(1000):
            with pytest.raises(UnknownKey):
                verifier.verify(fake.token(header={"kid": secrets.token_hex(32)}))
        assert fake.jwks_requests == 2
        clock.advance(29)
        with pytest.raises(UnknownKey):
            verifier.verify(fake.token(header={"kid": secrets.token_hex(32)}))
        assert fake.jwks_requests == 2
        clock.advance(2)
        with pytest.raises(UnknownKey):
            verifier.verify(fake.token(header={"kid": secrets.token_hex(32)}))
        assert fake.jwks_requests == 3


def test_cold_cache_hit_by_20_threads_makes_one_fetch(fake: FakePomerium) -> None:
    document = fake.jwks
    with JWKSServer(lambda h: jwks_answer(document)) as server:
        server.delay = 0.3
        verifier = fake.verifier(jwks_url=server.url)
        barrier = threading.Barrier(20)
        results: list[object] = []

        def work() -> None:
            barrier.wait()
            try:
                results.append(verifier.verify(fake.token()).email)
            except Exception as exc:  # collected and asserted below
                results.append(exc)

        threads = [threading.Thread(target=work) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert results == ["user@example.com"] * 20
        assert server.requests == 1


FAULTS: dict[str, t.Callable[[t.Mapping[str, str]], tuple[int, dict[str, str], bytes]]] = {
    "http-500": lambda h: (500, {}, b"oops"),
    "http-404": lambda h: (404, {}, b"not found"),
    "garbage": lambda h: (200, {"Cache-Control": "max-age=60"}, b"\x00\xffgarbage"),
    "not-a-jwks": lambda h: (200, {}, b'{"hello": "world"}'),
    "html": lambda h: (200, {"Content-Type": "text/html"}, b"<html>login</html>"),
    "huge": lambda h: (200, {}, b'{"keys": [' + b" " * (600 * 1024) + b"]}"),
    "cross-origin-redirect": lambda h: (302, {"Location": "http://localhost:1/jwks.json"}, b""),
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_fault_after_first_fetch_keeps_last_good_keys(
        fault: str, fake: FakePomerium, clock: Clock, signals: Recorder) -> None:
    document = fake.jwks
    state = {"fault": False}

    def answer(headers: t.Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        return FAULTS[fault](headers) if state["fault"] else jwks_answer(document)

    with JWKSServer(answer) as server:
        verifier = fake.verifier(jwks_url=server.url, max_stale=600)
        verifier.verify(fake.token())
        state["fault"] = True
        clock.advance(61)
        assert verifier.verify(fake.token()).email  # stale keys serve
        assert server.requests == 2
        assert signals.failed and signals.failed[-1]["url"] == server.url
        assert isinstance(signals.failed[-1]["error"], Exception)
        # The failure is not retried on every request.
        for _ in range(10):
            verifier.verify(fake.token())
        assert server.requests == 2
        # Past the stale limit the keys are no longer trusted: 503.
        clock.advance(600)
        with pytest.raises(KeysUnavailable):
            verifier.verify(fake.token())
        # When the endpoint recovers, so does the verifier, without a restart.
        state["fault"] = False
        clock.advance(6)
        assert verifier.verify(fake.token()).email


def test_slow_endpoint_times_out(fake: FakePomerium, clock: Clock) -> None:
    document = fake.jwks
    with JWKSServer(lambda h: jwks_answer(document)) as server:
        server.delay = 3
        verifier = fake.verifier(jwks_url=server.url, timeout=0.5)
        with pytest.raises(KeysUnavailable):
            verifier.verify(fake.token())


def test_down_at_start_then_recovers_by_itself(fake: FakePomerium, clock: Clock,
                                               signals: Recorder) -> None:
    document = fake.jwks
    state = {"up": False}
    with JWKSServer(lambda h: jwks_answer(document) if state["up"] else (503, {}, b"")) as server:
        verifier = fake.verifier(jwks_url=server.url, retry_interval=5)
        with pytest.raises(KeysUnavailable):
            verifier.verify(fake.token())
        with pytest.raises(KeysUnavailable):
            verifier.verify(fake.token())
        assert server.requests == 1  # no retry storm
        state["up"] = True
        clock.advance(5)
        assert verifier.verify(fake.token()).email
        assert len(signals.failed) == 1 and len(signals.refreshed) == 1


def test_same_origin_redirect_followed(fake: FakePomerium, clock: Clock) -> None:
    document = fake.jwks

    def answer(headers: t.Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        return jwks_answer(document)

    with JWKSServer(answer) as target:
        # A redirect within the same origin (same server, other path) is fine.
        seen = {"n": 0}

        def redirecting(headers: t.Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
            seen["n"] += 1
            if seen["n"] == 1:
                return 302, {"Location": "/elsewhere/jwks.json"}, b""
            return jwks_answer(document)

        target.respond = redirecting
        assert fake.verifier(jwks_url=target.url).verify(fake.token()).email


def test_keys_null_means_every_token_is_unknown(fake: FakePomerium) -> None:
    with JWKSServer(lambda h: jwks_answer({"keys": None})) as server, pytest.raises(UnknownKey):
        fake.verifier(jwks_url=server.url).verify(fake.token())


# -- the shared cache -------------------------------------------------------------------

def test_workers_sharing_a_cache_fetch_once(fake: FakePomerium, clock: Clock) -> None:
    shared = SimpleCache()
    with fake.serve() as url:
        verifiers = [fake.verifier(jwks_url=url, cache=shared) for _ in range(5)]
        for verifier in verifiers:
            assert verifier.verify(fake.token()).email
        assert fake.jwks_requests == 1
        # The cached value is JSON text, never a pickled key object.
        (raw,) = [shared.get(k) for k in [t.cast(RemoteJWKS, verifiers[0].keys).cache_key]]
        assert isinstance(raw, str) and json.loads(raw)["jwks"]


def test_rotation_seen_by_one_worker_is_shared(fake: FakePomerium, clock: Clock) -> None:
    shared = SimpleCache()
    with fake.serve() as url:
        a, b = (fake.verifier(jwks_url=url, cache=shared) for _ in range(2))
        a.verify(fake.token())
        b.verify(fake.token())
        fake.rotate()
        token = fake.token()
        a.verify(token)
        assert fake.jwks_requests == 2
        b.verify(fake.token())  # adopts the newer cached document, no fetch
        assert fake.jwks_requests == 2


@pytest.mark.parametrize("entry", ["{garbage", json.dumps({"url": "x"}), b"bytes", 42,
                                   json.dumps({"url": None, "jwks": "{}", "fetched_at": 0,
                                               "expires_at": 1})],
                         ids=["bad-json", "incomplete", "bytes", "int", "wrong-url"])
def test_bad_cache_entry_is_ignored_and_replaced(entry: object, fake: FakePomerium) -> None:
    shared = SimpleCache()
    with fake.serve() as url:
        verifier = fake.verifier(jwks_url=url, cache=shared)
        key = t.cast(RemoteJWKS, verifier.keys).cache_key
        shared.set(key, entry)
        assert verifier.verify(fake.token()).email
        assert fake.jwks_requests == 1
        assert json.loads(shared.get(key))["url"] == url


def test_tampered_cache_entry_with_foreign_keys_for_another_url(fake: FakePomerium) -> None:
    attacker = FakePomerium()
    shared = SimpleCache()
    with fake.serve() as url:
        verifier = fake.verifier(jwks_url=url, cache=shared)
        key = t.cast(RemoteJWKS, verifier.keys).cache_key
        shared.set(key, json.dumps({"url": "https://evil.example.com/jwks",
                                    "jwks": json.dumps(attacker.jwks), "etag": None,
                                    "fetched_at": fake.clock(), "expires_at": fake.clock() + 60}))
        with pytest.raises(UnknownKey):
            verifier.verify(attacker.token())


class BrokenCache(BaseCache):  # type: ignore[misc]
    """A cache whose backend is down: every call raises, like a RedisCache with no server."""

    def get(self, key: str) -> t.Any:
        raise ConnectionError("cache backend down")

    def set(self, key: str, value: t.Any, timeout: int | None = None) -> bool:
        raise ConnectionError("cache backend down")


def test_cache_down_falls_back_to_network(fake: FakePomerium, signals: Recorder,
                                          caplog: pytest.LogCaptureFixture) -> None:
    with fake.serve() as url:
        verifier = fake.verifier(jwks_url=url, cache=BrokenCache())
        with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"):
            assert verifier.verify(fake.token()).email
        assert "cache" in caplog.text
        assert any(isinstance(s["error"], ConnectionError) for s in signals.failed)


def test_remote_configuration_errors() -> None:
    from pomerium_wsgi import ConfigurationError

    with pytest.raises(ConfigurationError):
        RemoteJWKS("https://a.example.com/j", min_age=10, max_age=5)
    with pytest.raises(ConfigurationError):
        RemoteJWKS("https://user:pw@a.example.com/j")
    with pytest.raises(ConfigurationError):
        RemoteJWKS("https://a.example.com/j", cooldown=-1)


def test_static_keys_unknown_kid() -> None:
    fake = FakePomerium()
    verifier = Verifier("app.example.com", jwks=json.dumps(fake.jwks))
    other = FakePomerium()
    with pytest.raises(UnknownKey):
        verifier.verify(other.token())


def test_fetch_is_bounded_by_timeout_even_when_headers_trickle(fake: FakePomerium) -> None:
    """Socket timeouts are per read: a server dripping its headers must still time out."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
                if stop.wait(0.3):
                    return
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
    verifier = fake.verifier(jwks_url=url, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(KeysUnavailable):
        verifier.verify(fake.token())
    assert time.monotonic() - started < 5
    stop.set()
    thread.join(5)
    listener.close()


def test_dropping_stale_keys_also_drops_tokens_verified_with_them(
        fake: FakePomerium, clock: Clock) -> None:
    state = {"up": True}
    document = fake.jwks
    with JWKSServer(lambda h: jwks_answer(document) if state["up"] else (500, {}, b"")) as server:
        verifier = fake.verifier(jwks_url=server.url, max_stale=100)
        token = fake.token(exp=int(clock.now) + 3600)
        assert verifier.verify(token).email
        state["up"] = False
        clock.advance(61 + 100)
        with pytest.raises(KeysUnavailable):
            verifier.verify(fake.token())
        with pytest.raises(KeysUnavailable):
            verifier.verify(token)  # not served from the token cache


def test_broken_refresh_keeps_the_good_keys(fake: FakePomerium, clock: Clock) -> None:
    good = fake.jwks
    state = {"doc": good}
    with JWKSServer(lambda h: jwks_answer(state["doc"])) as server:
        verifier = fake.verifier(jwks_url=server.url)
        assert verifier.verify(fake.token()).email
        state["doc"] = {"keys": [{**good["keys"][0], "use": "enc"}]}
        clock.advance(61)
        assert verifier.verify(fake.token()).email


def test_duplicate_kid_refused_even_when_one_copy_is_unusable() -> None:
    keys = parse_jwks({"keys": [{**_ec(), "kid": "dup", "use": "enc"}, {**_ec(), "kid": "dup"}]})
    assert keys == {}


@pytest.mark.parametrize("option", ["cooldown", "timeout", "max_stale", "retry_interval"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_settings_are_refused(option: str, value: float) -> None:
    from pomerium_wsgi import ConfigurationError

    with pytest.raises(ConfigurationError):
        Verifier("app.example.com", **{option: value})


def test_localhost_subdomains_are_not_loopback() -> None:
    from pomerium_wsgi import ConfigurationError

    with pytest.raises(ConfigurationError):
        Verifier("app.example.com", jwks_url="http://evil.localhost/jwks.json")


def test_no_fetch_turns_a_needed_fetch_into_fetch_required(fake: FakePomerium,
                                                           clock: Clock) -> None:
    from pomerium_wsgi.errors import FetchRequired
    from pomerium_wsgi.keys import no_fetch

    with JWKSServer(lambda headers: jwks_answer(fake.jwks)) as server:
        verifier = fake.verifier(jwks_url=server.url)
        token = fake.token()
        with no_fetch(), pytest.raises(FetchRequired):
            verifier.verify(token)  # cold: the keys must be fetched
        assert server.requests == 0
        assert verifier.verify(token).email == "user@example.com"  # outside: fetched
        with no_fetch():
            assert verifier.verify(fake.token()).email == "user@example.com"  # keys held
            clock.advance(3600)
            with pytest.raises(FetchRequired):
                verifier.verify(fake.token())  # expired keys: a refresh is needed
        assert server.requests == 1
