"""keys/stores.py: what a shared cache returns is never unpickled.

Write access to the cache must never become code execution in the verifier. A pickled
object that creates a sentinel file when unpickled is planted where the verifier reads
(the JWKS entry and both fleet markers); the verifier must keep working against a real
JWKS server on 127.0.0.1 and the sentinel must never appear. Backends that can only be
read by unpickling are refused at start-up. (Redis: tests/integration/test_redis.py.)
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import pickle
import shutil
import struct
import time
import typing as t

import pytest
from cachelib import (
    BaseCache,
    DynamoDbCache,
    FileSystemCache,
    MemcachedCache,
    MongoDbCache,
    NullCache,
    SimpleCache,
    UWSGICache,
)

from pomerium_wsgi import ConfigurationError, RemoteJWKS, UnknownKey, Verifier
from pomerium_wsgi.keys import store_for
from pomerium_wsgi.keys.stores import CacheStore, FileStore
from pomerium_wsgi.testing import FakePomerium


class Touch:
    """Pickles to a call that creates a file: proof of whether anything was unpickled."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[t.Any, ...]:
        return (pathlib.Path.touch, (self.path,))


def jwks_key(verifier: Verifier) -> str:
    return t.cast(RemoteJWKS, verifier.keys).cache_key


@pytest.fixture
def sentinel(tmp_path: pathlib.Path) -> t.Iterator[pathlib.Path]:
    path = tmp_path / "code-ran"
    yield path
    assert not path.exists(), "a value read from the cache was unpickled"


@pytest.mark.parametrize("suffix", ["", ":refresh", ":kid"], ids=["entry", "refresh-marker",
                                                                   "kid-marker"])
def test_filesystem_cache_pickle_planted_never_runs(
        suffix: str, tmp_path: pathlib.Path, sentinel: pathlib.Path) -> None:
    fake = FakePomerium()
    cache = FileSystemCache(str(tmp_path / "cache"))
    with fake.serve() as url:
        verifier = fake.verifier(jwks_url=url, cache=cache)
        # Planted exactly as cachelib writes it (expiry header + pickle), by cachelib.
        cache.set(jwks_key(verifier) + suffix, Touch(sentinel), timeout=3600)
        assert verifier.verify(fake.token()).email
        with pytest.raises(UnknownKey):  # the kid marker path runs too
            verifier.verify(FakePomerium().token())
        assert fake.jwks_requests == 2
    raw = pathlib.Path(cache._get_filename(jwks_key(verifier))).read_bytes()
    assert json.loads(raw[4:])["url"] == url  # raw JSON text after cachelib's header


def test_filesystem_cache_is_shared_between_workers(tmp_path: pathlib.Path) -> None:
    fake = FakePomerium()
    with fake.serve() as url:
        workers = [fake.verifier(jwks_url=url, cache=FileSystemCache(str(tmp_path)))
                   for _ in range(3)]
        for verifier in workers:
            assert verifier.verify(fake.token()).email
        assert fake.jwks_requests == 1


def test_filesystem_store_refuses_what_is_not_a_regular_file(
        tmp_path: pathlib.Path, sentinel: pathlib.Path,
        caplog: pytest.LogCaptureFixture) -> None:
    cache = FileSystemCache(str(tmp_path / "cache"))
    store = FileStore(cache)
    target = tmp_path / "elsewhere"
    target.write_bytes(struct.pack("I", 0) + pickle.dumps(Touch(sentinel)))
    os.symlink(target, cache._get_filename("link"))
    os.mkfifo(cache._get_filename("fifo"))
    with pytest.raises(OSError):
        store.get("link")  # not followed
    started = time.monotonic()
    with pytest.raises(OSError):
        store.get("fifo")  # not opened for a blocking read
    assert time.monotonic() - started < 1
    store.set("link", '{"x": 1}', 60)  # replaces the link, never writes through it
    assert store.get("link") == b'{"x": 1}'
    assert target.read_bytes().startswith(struct.pack("I", 0) + b"\x80")


def test_filesystem_store_expiry_size_and_add(tmp_path: pathlib.Path) -> None:
    cache = FileSystemCache(str(tmp_path))
    store = FileStore(cache)
    assert store.get("absent") is None
    assert store.add("m", "1.5", 60) and not store.add("m", "2.5", 60)
    assert store.get("m") == b"1.5"
    pathlib.Path(cache._get_filename("old")).write_bytes(struct.pack("I", 1) + b"9")
    assert store.get("old") is None and store.add("old", "3", 60)  # expired: replaced
    pathlib.Path(cache._get_filename("short")).write_bytes(b"ab")
    with pytest.raises(ValueError):
        store.get("short")
    store.delete("m")
    store.delete("m")  # absent: fine
    assert store.get("m") is None
    assert oct(os.stat(cache._get_filename("old")).st_mode & 0o777) == "0o600"


def _bare(cls: type[BaseCache]) -> BaseCache:
    """An instance without its client library (none is installed or needed here)."""
    return t.cast(BaseCache, cls.__new__(cls))


class AppMemcached(MemcachedCache):  # type: ignore[misc]
    """A subclass of a refused backend is refused too."""


REFUSED: dict[str, t.Callable[[], BaseCache]] = {
    "memcached": lambda: MemcachedCache(servers=object()),
    "memcached-subclass": lambda: _bare(AppMemcached),
    "uwsgi": lambda: _bare(UWSGICache),
    "mongodb": lambda: _bare(MongoDbCache),
    "dynamodb": lambda: _bare(DynamoDbCache),
}


@pytest.mark.parametrize("make", list(REFUSED.values()), ids=list(REFUSED))
def test_backends_that_unpickle_are_refused_at_start_up(
        make: t.Callable[[], BaseCache]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Verifier("app.example.com", cache=make())
    message = str(caught.value)
    for works in ("RedisCache", "FileSystemCache", "SimpleCache"):
        assert works in message


class AppCache(BaseCache):  # type: ignore[misc]
    """The application's own cache class: its code, trusted to store text as text."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, t.Any] = {}

    def get(self, key: str) -> t.Any:
        return self.data.get(key)

    def set(self, key: str, value: t.Any, timeout: int | None = None) -> bool:
        self.data[key] = value
        return True

    def add(self, key: str, value: t.Any, timeout: int | None = None) -> bool:
        return self.data.setdefault(key, value) is value

    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None


@pytest.mark.parametrize("make", [SimpleCache, NullCache, AppCache],
                         ids=["simple", "null", "application-class"])
def test_in_process_and_application_caches_are_used_as_they_are(
        make: t.Callable[[], BaseCache]) -> None:
    cache = make()
    store = store_for(cache)
    assert isinstance(store, CacheStore) and store.cache is cache
    fake = FakePomerium()
    with fake.serve() as url:
        assert fake.verifier(jwks_url=url, cache=cache).verify(fake.token()).email


def test_not_a_cache_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        store_for(t.cast(BaseCache, {}))


def test_filesystem_store_write_failure_is_logged_not_raised(
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "cache"
    cache = FileSystemCache(str(directory))
    fake = FakePomerium()
    with fake.serve() as url:
        verifier = fake.verifier(jwks_url=url, cache=cache)
        shutil.rmtree(directory)
        directory.write_text("not a directory any more")
        with caplog.at_level(logging.WARNING, "pomerium_wsgi.keys"):
            assert verifier.verify(fake.token()).email
    assert "cache read failed" in caplog.text and "cache write failed" in caplog.text
