"""Fetch one JWKS document over HTTP, within hard bounds, and say what came back.

This module knows HTTP and nothing about caches or refresh policy: one call, one GET,
one :class:`Response` (the body, its ``ETag`` and what ``Cache-Control`` says) or a
:class:`~pomerium_wsgi.keys.keyset.JWKSError` saying why not. The refresh policy decides
when to call it and what the answer's lifetime is.

Bounds, because the endpoint (or whatever answers in its place) is not trusted to behave:

* the whole fetch, headers and body, finishes within ``timeout`` (socket timeouts only
  apply per read, so the fetch runs on a helper thread that is abandoned at the deadline;
  at most one such thread exists at a time);
* the body is capped at ``max_size`` bytes;
* a redirect is followed only within the same scheme, host and port, at most three times;
* plain http only to a loopback host, which also bypasses any configured proxy.

When the answer is not a key set (an HTML login page from a proxy in between, an error
page), :meth:`Response.describe` gives its status, ``Content-Type`` and first bytes,
escaped, for the log line that tells the operator why the keys are unavailable.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import threading
import time
import typing as t
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from http.client import HTTPMessage

from werkzeug.datastructures import ResponseCacheControl
from werkzeug.http import parse_cache_control_header

from ..errors import ConfigurationError
from .keyset import JWKSError

#: How much of an unexpected body is shown in the log.
PREVIEW_BYTES = 120


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_jwks_url(url: str) -> str:
    """Validate a configured JWKS URL: https, or http to a loopback host only."""
    if not isinstance(url, str):
        raise ConfigurationError("jwks_url must be a string")
    if not url.isprintable() or any(c.isspace() for c in url):
        # urllib would refuse it at the first fetch: a 503 on every request, not a
        # start-up error naming the setting.
        raise ConfigurationError(f"jwks_url {url!r} contains spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        raise ConfigurationError(f"jwks_url {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"jwks_url {url!r} is not an absolute https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"jwks_url {url!r} uses plain http to a non-loopback host; use https "
            "(keys fetched in the clear could be replaced by anyone on the path)"
        )
    if parts.username or parts.password:
        raise ConfigurationError("jwks_url must not carry credentials")
    return url


def preview(data: bytes | str | None, limit: int = PREVIEW_BYTES) -> str:
    """*data* cut to *limit* and escaped: safe to log (no control or bidi characters)."""
    if data is None:
        return "(none)"
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    more = "..." if len(data) > limit else ""
    return ascii(data[:limit].decode("utf-8", "replace")) + more


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """What one fetch returned: a document (200) or "not modified" (304)."""

    status: int
    body: bytes
    etag: str | None = None
    #: ``Cache-Control: max-age`` in seconds as sent (unclamped), or None when absent.
    max_age: float | None = None
    #: ``no-store`` or a bare ``no-cache``: keep the document as briefly as allowed.
    no_store: bool = False
    content_type: str | None = None

    def describe(self) -> str:
        """Status, Content-Type and the first bytes of the body, escaped, for a log line."""
        return (f"HTTP {self.status}, Content-Type {preview(self.content_type, 80)}, "
                f"body {preview(self.body)}")


def cache_lifetime(headers: Message) -> tuple[float | None, bool]:
    """``(max_age, no_store)`` from the ``Cache-Control`` header lines, via werkzeug.

    Directive names are case-insensitive (RFC 9111), werkzeug's parser is not: the
    value is lowercased first. A field-scoped ``no-cache="set-cookie"`` does not count.
    A max-age too long to be a number (werkzeug gives None) is a huge one: it is
    clamped later, like any other, rather than ignored.
    """
    lines = headers.get_all("Cache-Control") or ()
    if not lines:
        return None, False
    control = parse_cache_control_header(", ".join(lines).lower(), cls=ResponseCacheControl)
    no_store = bool(control.no_store) or control.no_cache is True
    age: float | None = None
    if control.max_age is not None:
        age = max(0.0, float(control.max_age))  # negative: "stale now"
    elif str(control.get("max-age") or "").strip('"').isdigit():
        age = float("inf")
    return age, no_store


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port, and only a few."""

    max_redirections = 3

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: t.IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        old = urllib.parse.urlsplit(req.full_url)
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise urllib.error.HTTPError(
                req.full_url, code, "redirect to another origin refused", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class HTTPFetcher:
    """GET one JWKS URL, bounded in time and size; ``fetcher(etag)`` -> :class:`Response`.

    :param url: an already checked JWKS URL (see :func:`check_jwks_url`).
    :param timeout: seconds for the whole fetch (connect, headers and body).
    :param max_size: largest body accepted, in bytes.
    """

    def __init__(self, url: str, *, timeout: float, max_size: int) -> None:
        self.url = url
        self.timeout = timeout
        self.max_size = max_size
        #: How many HTTP requests were started (for tests and metrics).
        self.requests = 0
        self._thread: threading.Thread | None = None
        handlers: list[urllib.request.BaseHandler] = [_SameOriginRedirects()]
        if is_loopback(urllib.parse.urlsplit(url).hostname or ""):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def __call__(self, etag: str | None) -> Response:
        """:meth:`get` within ``timeout`` overall, whatever the server does."""
        previous = self._thread
        if previous is not None:
            # An abandoned fetch stops at its own deadline, give or take one read: let
            # it finish rather than refuse a fetch that follows it closely.
            previous.join(min(0.25, self.timeout))
            if previous.is_alive():
                raise JWKSError("the previous fetch has not finished yet")
        outcome: list[Response | BaseException] = []

        def run() -> None:
            try:
                outcome.append(self.get(etag))
            except BaseException as exc:  # handed to the waiting thread below
                outcome.append(exc)

        thread = threading.Thread(target=run, name="pomerium-wsgi-jwks-fetch", daemon=True)
        self._thread = thread
        thread.start()
        thread.join(self.timeout)
        if not outcome:
            raise JWKSError(f"no complete answer within {self.timeout:g} s")
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def get(self, etag: str | None) -> Response:
        """One GET on the calling thread (socket timeouts only: use the call instead)."""
        headers = {"Accept": "application/json", "User-Agent": "pomerium-wsgi"}
        if etag:
            headers["If-None-Match"] = etag
        request = urllib.request.Request(self.url, headers=headers)  # noqa: S310 - checked scheme
        deadline = time.monotonic() + self.timeout
        self.requests += 1
        try:
            response = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 304:
                    age, no_store = cache_lifetime(exc.headers)
                    return Response(304, b"", exc.headers.get("ETag"), age, no_store)
                start = b""
                if exc.fp is not None:
                    try:
                        start = exc.read(PREVIEW_BYTES + 1)
                    except Exception:  # the body is only for the log
                        start = b""
                answer = Response(exc.code, start, content_type=exc.headers.get("Content-Type"))
                raise JWKSError(f"{exc.reason}; {answer.describe()}"
                                if exc.code in (301, 302, 303, 307, 308)
                                else answer.describe()) from None
        with response:
            content_type = response.headers.get("Content-Type")
            if response.status != 200:
                raise JWKSError(Response(response.status, response.read(PREVIEW_BYTES + 1),
                                         content_type=content_type).describe())
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > self.max_size:
                raise JWKSError(f"response of {length} bytes is over {self.max_size}")
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise JWKSError(f"response took longer than {self.timeout} s")
                chunk = response.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_size:
                    raise JWKSError(f"response is over {self.max_size} bytes")
                chunks.append(chunk)
            age, no_store = cache_lifetime(response.headers)
            return Response(200, b"".join(chunks), response.headers.get("ETag"), age, no_store,
                            content_type)

    def __repr__(self) -> str:
        return f"HTTPFetcher({self.url!r})"
