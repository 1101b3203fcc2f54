"""What ``pomerium-wsgi dev`` does per request, whatever the server (WSGI or ASGI).

:class:`DevSession` holds one run's settings and answers the questions both server
wrappers ask: is this ``Host`` one we serve (a page in the developer's browser can reach
a loopback server through DNS rebinding, and every request here carries a signed
identity, so a request for another host is refused); which token goes in; what to log.

It also explains the refusals a developer would otherwise stare at. The app's own
settings win over the ``POMERIUM_*`` variables dev exports, so an app configured for
another audience refuses every token (``audience``) and one that fetches keys from its
real host answers 503 (``keys_unavailable``). The first such refusal prints one line
naming the fix. The reason is read from the core's ``verification_failed`` signal and
from the problem body the core answers with; the expected audience and the JWKS URL the
app uses are read from the :class:`~pomerium_wsgi.Verifier` objects alive in this process
(each framework keeps its verifier in its own place, so dev looks for them all).
"""

from __future__ import annotations

import dataclasses
import gc
import re
import sys
import threading
import typing as t

from ..signals import keys_refresh_failed, verification_failed
from ..testing import FakePomerium
from ..verifier import Verifier
from .common import PROG, payload
from .terminal import dumps, escape

#: Where the core's problem body (JSON or text) names its reason code.
_REASON = re.compile(rb'reason["\']?\s*[:=]\s*["\']?([a-z_]{3,32})')
TOKEN_HEADER = "X-Pomerium-Jwt-Assertion"  # noqa: S105 - a header name


@dataclasses.dataclass
class DevUser:
    """The user dev speaks for, or nobody with ``--anonymous``."""

    email: str
    groups: list[str]
    extra: dict[str, t.Any]
    lifetime: int
    anonymous: bool

    def describe(self) -> str:
        if self.anonymous:
            return "anonymous"
        groups = f" ({', '.join(self.groups)})" if self.groups else ""
        return f"as {self.email}{groups}"


def allowed_hosts(bound: str, port: int, requested: str) -> frozenset[str]:
    """The ``Host`` values a loopback server at *bound*:*port* answers."""
    names = {_bracket(name) for name in ("localhost", requested.lower(), bound)}
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:
        hosts |= names
    return frozenset(hosts)


def _bracket(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host


class DevSession:
    """One ``dev`` run: minting, the Host check, the request log and the hints."""

    def __init__(self, fake: FakePomerium, identity: DevUser, jwks_url: str,
                 hosts: frozenset[str] | None, out: t.TextIO | None = None) -> None:
        self.fake = fake
        self.identity = identity
        self.jwks_url = jwks_url
        #: Host header values served; None (``--allow-remote``) serves any.
        self.hosts = hosts
        self.out = out or sys.stderr
        self._said: set[str] = set()
        self._explained: set[str] = set()
        self._failed_urls: list[str] = []
        self._lock = threading.Lock()
        verification_failed.connect(self._on_refused, weak=False)
        keys_refresh_failed.connect(self._on_fetch_failed, weak=False)

    # -- per request ---------------------------------------------------------------

    def mint(self) -> str | None:
        """A fresh token for this request, or None when ``--anonymous``."""
        if self.identity.anonymous:
            return None
        who = self.identity
        return self.fake.signing_key.sign(
            payload(self.fake, who.email, who.groups, who.extra, who.lifetime))

    def host_allowed(self, host: str | None) -> bool:
        return self.hosts is None or (host is not None and host.lower() in self.hosts)

    def refusal_body(self, host: str | None) -> bytes:
        served = " and ".join(f"http://{h}/" for h in sorted(self.hosts or ()))
        return (f"421 Misdirected Request: this pomerium-wsgi dev server answers only "
                f"{served}, not Host {host!r}. It signs an identity into every request, "
                "so it refuses other hosts (a page in your browser may be trying DNS "
                "rebinding).\n").encode("ascii", "backslashreplace")

    def log(self, method: str, path: str, status: int, note: str = "") -> None:
        """One line per request: method, path, status and the identity injected."""
        who = note or self.identity.describe()
        self._write(f"{method} {path} {status} {who}")

    def saw_response(self, status: int, body: bytes) -> None:
        """Look at a refusal's problem body for the core's reason code."""
        if status in (401, 503):
            match = _REASON.search(body[:4096])
            if match:
                self.explain(match.group(1).decode("ascii"))

    # -- hints -----------------------------------------------------------------------

    def _on_refused(self, sender: object, error: t.Any = None, **kwargs: t.Any) -> None:
        reason = getattr(error, "reason", None)
        if isinstance(reason, str):
            self.explain(reason)

    def _on_fetch_failed(self, sender: object, url: str = "", **kwargs: t.Any) -> None:
        if url and url != self.jwks_url:
            with self._lock:
                self._failed_urls.append(url)

    def explain(self, reason: str) -> None:
        """Say once, in one line, why the app refuses dev's tokens (if dev can tell)."""
        with self._lock:
            if reason in self._explained or (self.identity.anonymous and reason == "missing"):
                return  # (looking for the app's verifiers walks every object: only once)
            self._explained.add(reason)
        hint = self._hint(reason)
        if hint:
            self.say(hint)

    def startup_check(self) -> None:
        """Name, before any request, app settings that will refuse dev's tokens."""
        for reason in ("audience", "keys_unavailable"):
            hint = self._hint(reason, startup=True)
            if hint:
                self.say(hint)

    def say(self, hint: str) -> None:
        with self._lock:
            if hint in self._said:
                return
            self._said.add(hint)
        self._write(f"{PROG} dev: {hint}")

    def _hint(self, reason: str, startup: bool = False) -> str | None:
        verifiers = _live_verifiers()
        audience = self.fake.audience
        if reason in ("audience", "issuer"):  # another route's token has both wrong
            wanted = sorted({a for v in verifiers if audience not in v.audiences
                             for a in v.audiences})
            if wanted:
                return (f"the app expects the audience {', '.join(wanted)}, dev mints "
                        f"tokens for {audience}: restart dev with --audience {wanted[0]}")
            if startup or reason == "issuer":
                return None
            return (f"the app refused dev's token (aud {audience}) as 'audience': restart "
                    "dev with --audience set to the host the app is configured for")
        if reason in ("keys_unavailable", "unknown_key", "signature"):
            urls = sorted({u for v in verifiers if (u := getattr(v.keys, "url", None))
                           and u != self.jwks_url} | set(self._failed_urls))
            if urls:
                return (f"the app fetches its keys from {urls[0]}, which dev does not "
                        f"serve: leave the app's JWKS setting out under dev (a plain "
                        f"WSGI app: build its verifier with Verifier.from_env(...)) so "
                        f"that POMERIUM_JWKS_URL={self.jwks_url} applies")
            if startup or reason == "signature":
                return None
            return (f"the app refused dev's token as '{reason}': its own JWKS setting "
                    f"wins over POMERIUM_JWKS_URL={self.jwks_url}; leave it out under dev")
        return None

    def _write(self, line: str) -> None:
        print(escape(line), file=self.out, flush=True)

    def close(self) -> None:
        verification_failed.disconnect(self._on_refused)
        keys_refresh_failed.disconnect(self._on_fetch_failed)

    def banner(self, spec: str, kind: str, url: str, reload: bool) -> list[str]:
        who = self.identity
        if who.anonymous:
            identity = "none: --anonymous, no token is injected"
        else:
            sample = payload(self.fake, who.email, who.groups, who.extra, who.lifetime)
            shown: dict[str, t.Any] = {
                k: sample[k] for k in ("email", "groups", "sub", "name") if k in sample}
            shown.update({k: v for k, v in who.extra.items() if k not in shown})
            identity = f"{dumps(shown, indent=None)} (a fresh {who.lifetime}s token per request)"
        lines = [f"{PROG} dev: serving {spec} ({kind}) at {url}",
                 f"  identity: {identity}",
                 f"  POMERIUM_AUDIENCE={self.fake.audience}",
                 f"  POMERIUM_JWKS_URL={self.jwks_url}"]
        if self.hosts is not None:
            lines.append(f"  answers Host {', '.join(sorted(self.hosts))} only")
        if reload:
            lines.append("  reload: on (restarts when the app's files change)")
        lines.append("  Ctrl-C stops it.")
        return lines


def _live_verifiers() -> list[Verifier]:
    """The Verifier objects in this process: the app's (dev itself makes none)."""
    return [o for o in gc.get_objects() if isinstance(o, Verifier)]
