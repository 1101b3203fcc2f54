"""Shared stores for fetched JWKS documents: text in, text out, nothing ever unpickled.

Workers share the JWKS they fetched (and short "I am refreshing" markers) through the
cachelib cache the operator configures. Whoever can write to that cache must not be able
to run code in the verifier, so values are JSON or number *text* read back as raw bytes,
never through a cachelib ``get()`` that unpickles what it finds:

* ``RedisCache`` / ``ValkeyCache`` (any cachelib Redis-compatible cache): read and
  written through the cache's raw client, every key with an expiry;
* ``FileSystemCache``: raw bytes in the cache's own file layout (a 4-byte expiry, then
  the text), read from a regular file only and with a size cap;
* ``SimpleCache`` and ``NullCache``: in-process, nothing outside the process writes them;
* ``MemcachedCache``, ``UWSGICache``, ``MongoDbCache``, ``DynamoDbCache``: refused with a
  :class:`~pomerium_wsgi.errors.ConfigurationError`, because their clients unpickle
  whatever is stored and offer no raw read.

A cache class of the application's own (a ``BaseCache`` subclass outside cachelib) is
called with text values through ``get``/``set``/``add``/``delete``; it is the
application's code, so it is trusted not to unpickle.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import tempfile
import time
import typing as t

from cachelib import BaseCache, FileSystemCache, NullCache, SimpleCache

from ..errors import ConfigurationError

#: Largest value read back from a file store (a JWKS entry is at most a few hundred KB).
MAX_FILE_VALUE = 4 * 1024 * 1024
#: Backends that work, named in the refusal.
SUPPORTED_BACKENDS = "RedisCache, ValkeyCache, FileSystemCache, SimpleCache or NullCache"
_REFUSED = ("MemcachedCache", "UWSGICache", "MongoDbCache", "DynamoDbCache")


class SharedStore(t.Protocol):
    """What the refresh policy needs of a store shared by workers.

    Values are text. ``get`` returns what was stored (``str`` or ``bytes``; anything from
    an in-process cache), or None when absent or expired; the caller validates it.
    Every write carries a lifetime in whole seconds.
    """

    #: True when reading costs no I/O (an in-process cache): an event loop may then read
    #: it inline, under :func:`~pomerium_wsgi.keys.no_fetch`.
    local: bool

    def get(self, key: str) -> object:
        ...

    def set(self, key: str, value: str, ttl: int) -> None:
        ...

    def add(self, key: str, value: str, ttl: int) -> bool:
        """Store *value* only if *key* is absent; True if it was stored."""
        ...

    def delete(self, key: str) -> None:
        ...


class CacheStore:
    """An in-process cachelib cache (or the application's own cache class), as is."""

    def __init__(self, cache: BaseCache) -> None:
        self.cache = cache
        # The application's own cache class may well do I/O: only cachelib's in-process
        # caches count as local.
        self.local = isinstance(cache, SimpleCache | NullCache)

    def get(self, key: str) -> object:
        return self.cache.get(key)

    def set(self, key: str, value: str, ttl: int) -> None:
        self.cache.set(key, value, timeout=ttl)

    def add(self, key: str, value: str, ttl: int) -> bool:
        return bool(self.cache.add(key, value, timeout=ttl))

    def delete(self, key: str) -> None:
        self.cache.delete(key)


class RedisStore:
    """A cachelib Redis-compatible cache through its raw client: JSON text, not pickles.

    Every key is written with an expiry. A marker found without one (planted, or left by
    something else) is given one when it blocks an ``add``, so it cannot block forever.
    """

    local = False

    def __init__(self, cache: BaseCache) -> None:
        self.cache = cache

    def _client(self, which: str) -> tuple[t.Any, str]:
        prefix = t.cast(t.Any, self.cache)._get_prefix()  # (may change: read each time)
        return getattr(self.cache, which), str(prefix)

    def get(self, key: str) -> object:
        client, prefix = self._client("_read_client")
        return client.get(prefix + key)

    def set(self, key: str, value: str, ttl: int) -> None:
        client, prefix = self._client("_write_client")
        client.set(name=prefix + key, value=value.encode("utf-8"), ex=max(1, ttl))

    def add(self, key: str, value: str, ttl: int) -> bool:
        client, prefix = self._client("_write_client")
        name = prefix + key
        if client.set(name=name, value=value.encode("utf-8"), nx=True, ex=max(1, ttl)):
            return True
        if client.ttl(name) == -1:  # exists without an expiry: bound it
            client.expire(name, max(1, ttl))
        return False

    def delete(self, key: str) -> None:
        client, prefix = self._client("_write_client")
        client.delete(prefix + key)


class FileStore:
    """A cachelib ``FileSystemCache`` directory, read and written as raw bytes.

    The file layout is cachelib's (a native 4-byte expiry time, then the value) so its
    pruning still works, but the value is UTF-8 text, not a pickle, and is never handed
    to cachelib's ``get``. A file is read only if it is a regular file (not a FIFO or a
    device someone put in its place), without following a symlink, up to a size cap.
    """

    local = False

    def __init__(self, cache: FileSystemCache) -> None:
        self.cache = cache
        self.directory = str(cache._path)
        self.mode = int(cache._mode or 0o600)

    def _filename(self, key: str) -> str:
        return str(self.cache._get_filename(key))

    def get(self, key: str) -> object:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self._filename(key), flags)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError("the cache entry is not a regular file")
            data = file.read(MAX_FILE_VALUE + 5)
        if len(data) < 4 or len(data) > MAX_FILE_VALUE + 4:
            raise ValueError("the cache file has an impossible size")
        (expires,) = struct.unpack("I", data[:4])
        if expires != 0 and expires < time.time():
            return None
        return data[4:]

    def set(self, key: str, value: str, ttl: int) -> None:
        # Written beside the target and renamed over it: readers see all or nothing,
        # and a symlink planted at the target is replaced, not followed.
        fd, temporary = tempfile.mkstemp(suffix=self.cache._fs_transaction_suffix,
                                         dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(struct.pack("I", int(time.time()) + max(1, ttl)))
                file.write(value.encode("utf-8"))
            os.chmod(temporary, self.mode)
            os.replace(temporary, self._filename(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def add(self, key: str, value: str, ttl: int) -> bool:
        # Not atomic across processes (neither is cachelib's own add): two workers may
        # both refresh once; nothing worse.
        try:
            current = self.get(key)
        except (OSError, ValueError):
            current = None  # unreadable: replaced
        if current is not None:
            return False
        self.set(key, value, ttl)
        return True

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._filename(key))


def store_for(cache: BaseCache) -> SharedStore:
    """The :class:`SharedStore` for *cache*, or ConfigurationError if it would unpickle."""
    if not isinstance(cache, BaseCache):
        raise ConfigurationError("cache must be a cachelib BaseCache (e.g. RedisCache)")
    if callable(getattr(cache, "_get_prefix", None)) and hasattr(cache, "_write_client"):
        return RedisStore(cache)
    if isinstance(cache, FileSystemCache):
        return FileStore(cache)
    if isinstance(cache, SimpleCache | NullCache):
        return CacheStore(cache)
    refused = [c.__name__ for c in type(cache).__mro__
               if c.__name__ in _REFUSED and c.__module__.startswith("cachelib")]
    if refused or type(cache).__module__.startswith("cachelib"):
        raise ConfigurationError(
            f"cache: {type(cache).__name__} unpickles what it reads, so anyone who can "
            f"write to it could run code in this process; use {SUPPORTED_BACKENDS}"
        )
    return CacheStore(cache)
