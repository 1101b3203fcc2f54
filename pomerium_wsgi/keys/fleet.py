"""What workers sharing a store write to it: the JWKS entry and the "I am fetching" marker.

The refresh policy decides *when* to read or claim; this module is the wire format and
the claim rule, so both are visible in one place (other languages can share the entry:
it is plain JSON text).

* The entry: ``{"url", "jwks" (the document, as text), "etag", "fetched_at",
  "expires_at"}``. One that is for another URL, has the wrong shape or impossible times
  is refused; the document in it is parsed like a fetched one.
* A marker: its holder's deadline as a number, written with an expiry. It is taken over
  once its deadline has passed, when it is not a finite number, or when it claims longer
  than any worker would hold it (planted, or from a clock far ahead), so no marker can
  stall a worker or stop key rotation.
"""

from __future__ import annotations

import json
import logging
import math
import typing as t

from .keyset import JWKSError
from .stores import SharedStore

log = logging.getLogger("pomerium_wsgi.keys")

#: How far another host's clock may run ahead before its marker counts as impossible.
CLOCK_SLACK = 5.0


class Entry(t.NamedTuple):
    """A JWKS document as shared between workers."""

    url: str
    document: str
    etag: str | None
    fetched_at: float
    expires_at: float


def encode_entry(entry: Entry) -> str:
    return json.dumps({
        "url": entry.url,
        "jwks": entry.document,
        "etag": entry.etag,
        "fetched_at": entry.fetched_at,
        "expires_at": entry.expires_at,
    })


def decode_entry(raw: object, *, url: str, now: float, max_age: float) -> Entry:
    """Read an entry for *url*; JWKSError (or ValueError etc.) if it is not one."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if not isinstance(raw, str):
        raise JWKSError("entry is not JSON text")
    data = json.loads(raw)
    if data.get("url") != url:
        raise JWKSError("entry is for another URL")
    document = data["jwks"]
    etag = data.get("etag")
    fetched_at = float(data["fetched_at"])
    expires_at = float(data["expires_at"])
    if not isinstance(document, str) or not (etag is None or isinstance(etag, str)):
        raise JWKSError("entry has the wrong shape")
    if not (fetched_at <= now + 60 and expires_at - fetched_at <= max_age):
        raise JWKSError("entry has impossible times")
    return Entry(url, document, etag, fetched_at, expires_at)


def claim(store: SharedStore, key: str, now: float, hold: float) -> bool:
    """Take the marker *key* for *hold* seconds; False if another worker holds it.

    Any store error counts as success: without the store, each worker fends for itself.
    """
    deadline = now + hold
    ttl = max(1, math.ceil(hold))
    try:
        if store.add(key, repr(deadline), ttl):
            return True
        held_until = _as_number(store.get(key))
        if held_until is not None and now < held_until <= deadline + CLOCK_SLACK:
            return False
        store.set(key, repr(deadline), ttl)  # passed, garbage or impossible: taken over
    except Exception:  # store down: fetch ourselves
        return True
    return True


def release(store: SharedStore, key: str) -> None:
    """Give the marker back (it expires by itself if this fails)."""
    try:
        store.delete(key)
    except Exception:
        log.debug("could not release the JWKS refresh marker", exc_info=True)


def _as_number(raw: object) -> float | None:
    """A marker's deadline, or None when it is not a finite number."""
    try:
        if isinstance(raw, bytes):
            raw = raw.decode("ascii")
        value = float(raw) if isinstance(raw, str) else None
    except (UnicodeError, ValueError):
        return None
    return value if value is not None and math.isfinite(value) else None
