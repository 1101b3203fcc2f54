"""docs/deploying.md: the deployment examples do what the page says."""

from __future__ import annotations

import logging
import re
import time

import pytest
from werkzeug.test import Client

from pomerium_wsgi import signals
from pomerium_wsgi.testing import FakePomerium

from ..conftest import ROOT, free_port
from .conftest import load_snippet, page


def test_the_page_shows_its_snippets() -> None:
    text = page("deploying")
    for name in ("deploying_redis", "deploying_redis_adapters", "deploying_healthz",
                 "deploying_metrics", "deploying_logging"):
        assert f"snippets/{name}.py" in text


def test_every_logger_is_documented() -> None:
    """Each ``logging.getLogger("...")`` of the shipped code has its row on the page."""
    names = set()
    for path in [*ROOT.joinpath("pomerium_wsgi").rglob("*.py"),
                 *ROOT.joinpath("adapters").rglob("*.py")]:
        names.update(re.findall(r"getLogger\(\s*[\"']([\w.]+)[\"']", path.read_text()))
    assert "pomerium_wsgi.keys" in names
    text = page("deploying")
    missing = sorted(name for name in names if f"`{name}`" not in text)
    assert not missing, f"loggers not described in docs/deploying.md: {missing}"


def test_a_dead_redis_costs_about_a_second_and_fails_nothing(
    route_host: FakePomerium, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page: a cache call gives up within about a second; Redis never fails a request."""
    pytest.importorskip("redis", reason="the Redis example needs the [redis] extra")
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", str(free_port()))  # nothing listens there
    snippet = load_snippet("deploying_redis")
    client = Client(snippet.app)
    started = time.monotonic()
    response = client.get("/", headers=route_host.headers("ada@example.com"))
    assert time.monotonic() - started < 3.0  # cache read and write, each given up quickly
    assert (response.status_code, response.text) == (200, "hello\n")
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 401


@pytest.mark.parametrize("framework", ["flask", "bottle", "pyramid"])
def test_each_adapter_takes_the_cache(route_host: FakePomerium, framework: str) -> None:
    pytest.importorskip(framework, reason=f"needs the [{framework}] extra")
    from cachelib import SimpleCache

    cache = SimpleCache()
    app = getattr(load_snippet("deploying_redis_adapters"), f"{framework}_app")(cache)
    if framework != "pyramid":  # Pyramid's app is built whole; it has no "/" route
        app.get("/")(lambda: "hello")
    response = Client(app).get("/", headers=route_host.headers("ada@example.com"))
    assert response.status_code == (404 if framework == "pyramid" else 200)
    # The fetched JWKS went into the cache given, where other workers would find it.
    assert any(key.startswith("pomerium_wsgi:jwks:") for key in cache._cache)


def test_healthz_answers_during_a_jwks_outage(pomerium: FakePomerium) -> None:
    # No route_host: the JWKS URL is unreachable, as in an outage.
    snippet = load_snippet("deploying_healthz")
    snippet.verifier.keys.url = f"http://127.0.0.1:{free_port()}/jwks.json"
    snippet.verifier.keys.timeout = 1.0
    client = Client(snippet.app)
    assert (client.get("/healthz").status_code, client.get("/healthz/deep").text) == (200, "ok\n")
    refused = client.get("/", headers={"Accept": "application/json", **pomerium.headers()})
    assert refused.status_code == 503
    assert refused.json["reason"] == "keys_unavailable"
    assert refused.headers["Retry-After"] == "5"
    # "in the format the client asks for, as every refusal"
    assert "in the format the\nclient asks for" in page("deploying")
    for accept, content_type in [("text/html", "text/html; charset=utf-8"),
                                 ("*/*", "text/plain; charset=utf-8")]:
        other = client.get("/", headers={"Accept": accept, **pomerium.headers()})
        assert (other.status_code, other.headers["Content-Type"]) == (503, content_type)
        assert other.headers["Retry-After"] == "5"
        assert other.headers["Cache-Control"] == "no-store"


def test_metrics_and_audit(route_host: FakePomerium, caplog: pytest.LogCaptureFixture) -> None:
    snippet = load_snippet("deploying_metrics")
    receivers = [snippet.on_failed, snippet.on_verified, snippet.on_denied, snippet.on_keys,
                 snippet.on_keys_failed]
    try:
        from pomerium_wsgi import PomeriumMiddleware, protect, require_group

        def hello(environ: dict[str, object], start_response: object) -> list[bytes]:
            start_response("200 OK", [])  # type: ignore[operator]
            return [b"hi"]

        app = Client(PomeriumMiddleware(protect(hello, require_group("admins")),
                                        route_host.verifier(jwks_url=None)))
        with caplog.at_level(logging.INFO, logger="audit"):
            app.get("/a", headers=route_host.headers("ada@example.com", ["admins"]))
            app.get("/b", headers=route_host.headers("bob@example.com", ["staff"]))
            app.get("/c", headers=route_host.headers(exp=1_000_000, iat=999_700))
    finally:
        for receiver in receivers:
            for signal in (signals.verification_failed, signals.identity_verified,
                           signals.access_denied, signals.keys_refreshed,
                           signals.keys_refresh_failed):
                signal.disconnect(receiver)
    assert snippet.outcomes["verified"] == 2
    assert snippet.outcomes["refused_expired"] == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "audit"]
    assert "user=ada@example.com" in messages[0] and "path=/a" in messages[0]
    assert any(m.startswith("denied user=bob@example.com requirement=") for m in messages)
    assert not any(route_host.token()[:20] in m for m in messages)


def test_logging_config_routes_the_library_loggers() -> None:
    before = {name: logging.getLogger(name).handlers[:] for name in ("pomerium_wsgi",
                                                                       "bottle_pomerium")}
    try:
        load_snippet("deploying_logging")
        for name in before:
            logger = logging.getLogger(name)
            assert logger.level == logging.WARNING
            assert any(isinstance(h, logging.StreamHandler) for h in logger.handlers)
    finally:
        for name, handlers in before.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).setLevel(logging.NOTSET)
