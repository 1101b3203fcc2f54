"""``no_fetch()``: a block in which key lookups never wait on the network.

An event loop verifies tokens inline (the signature check is about 0.1 ms) but must never
block on a JWKS fetch, which can take the whole HTTP timeout. Inside :class:`no_fetch`,
:class:`~pomerium_wsgi.keys.RemoteJWKS` raises
:class:`~pomerium_wsgi.errors.FetchRequired` wherever it would fetch, read a shared store
that is I/O, or wait for another thread's fetch; the caller then verifies again in a
worker thread. A context variable, so each task (and thread) has its own setting.
"""

from __future__ import annotations

import contextvars

from ..errors import FetchRequired

_no_fetch: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pomerium_wsgi_no_fetch", default=False
)


class no_fetch:  # lower case: used like a function, ``with no_fetch(): ...``
    """Within this block, key lookups never touch the network or wait for a fetch.

    A lookup that would have to raises :class:`~pomerium_wsgi.errors.FetchRequired`
    (a ``KeysUnavailable``); everything else behaves as outside. Built for event loops:
    verify inline under ``no_fetch()``, and on ``FetchRequired`` verify again in a
    worker thread. A context variable, so each task has its own setting; leave the
    block before handing the retry over (``asyncio.to_thread`` copies the context).
    A class rather than ``@contextmanager``, because an ASGI server enters it on every
    request and a generator-based one costs several times as much.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _no_fetch.set(True)

    def __exit__(self, *exc_info: object) -> None:
        _no_fetch.reset(self._token)


def fetch_allowed() -> None:
    """Raise FetchRequired inside :func:`no_fetch` (called on the slow path only)."""
    if _no_fetch.get():
        raise FetchRequired()


def fetching_forbidden() -> bool:
    """True inside :class:`no_fetch` (read on the slow path only)."""
    return _no_fetch.get()
