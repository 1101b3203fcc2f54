"""Each signal, its sender and keyword arguments; a raising receiver changes nothing."""

from __future__ import annotations

import logging
import typing as t

import pytest
from werkzeug.test import Client

from pomerium_wsgi import Identity, PomeriumMiddleware, VerificationError
from pomerium_wsgi import signals as s
from pomerium_wsgi.testing import FakePomerium


def hello(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


class Calls(list[tuple[object, dict[str, t.Any]]]):
    def __call__(self, sender: object, **kw: t.Any) -> None:
        self.append((sender, kw))


def test_identity_verified(pomerium: FakePomerium) -> None:
    calls = Calls()
    middleware = PomeriumMiddleware(hello, pomerium.verifier())
    with s.identity_verified.connected_to(calls):
        Client(middleware).get("/", headers=pomerium.headers("a@example.com"))
    ((sender, kw),) = calls
    assert sender is middleware
    assert set(kw) == {"identity", "environ"}
    assert isinstance(kw["identity"], Identity) and kw["identity"].email == "a@example.com"
    assert kw["environ"]["pomerium.identity"] is kw["identity"]


def test_verification_failed_with_custom_sender(pomerium: FakePomerium) -> None:
    calls = Calls()
    app = object()
    middleware = PomeriumMiddleware(hello, pomerium.verifier(), sender=app)
    with s.verification_failed.connected_to(calls, sender=app):
        Client(middleware).get("/", headers=pomerium.headers(exp=1))
    ((sender, kw),) = calls
    assert sender is app and set(kw) == {"error", "environ"}
    assert isinstance(kw["error"], VerificationError) and kw["error"].reason == "expired"


def test_receivers_for_another_sender_are_not_called(pomerium: FakePomerium) -> None:
    calls = Calls()
    with s.identity_verified.connected_to(calls, sender=object()):
        Client(PomeriumMiddleware(hello, pomerium.verifier())).get("/", headers=pomerium.headers())
    assert calls == []


def test_raising_receiver_is_logged_and_ignored(pomerium: FakePomerium,
                                                caplog: pytest.LogCaptureFixture) -> None:
    def broken(sender: object, **kw: t.Any) -> None:
        raise RuntimeError("audit sink down")

    after = Calls()
    client = Client(PomeriumMiddleware(hello, pomerium.verifier()))
    with caplog.at_level(logging.ERROR, "pomerium_wsgi.signals"), \
            s.identity_verified.connected_to(broken), \
            s.identity_verified.connected_to(after), \
            s.verification_failed.connected_to(broken):
        ok = client.get("/", headers=pomerium.headers())
        refused = client.get("/")
    assert ok.status_code == 200 and ok.data == b"hello"
    assert refused.status_code == 401
    assert len(after) == 1
    assert "audit sink down" in caplog.text


def test_signal_names_are_namespaced() -> None:
    names = {sig.name for sig in (s.identity_verified, s.verification_failed, s.access_denied,
                                  s.keys_refreshed, s.keys_refresh_failed)}
    assert names == {"identity-verified", "verification-failed", "access-denied",
                     "keys-refreshed", "keys-refresh-failed"}
