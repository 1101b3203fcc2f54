"""docs/configuration.md: the examples, loaded from docs/snippets and driven with
FakePomerium, doing what the page says: code wins, the environment fills the rest."""

from __future__ import annotations

import configparser
import importlib.util
import json
import re
import sys
import types
import typing as t

import pytest
from werkzeug.test import Client

from pomerium_wsgi import StaticKeys, Verifier
from pomerium_wsgi.settings import ENV_SETTINGS, env_name
from pomerium_wsgi.testing import FakePomerium

from ..conftest import ROOT

DOCS = ROOT / "docs"
SNIPPETS = DOCS / "snippets"


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> t.Callable[[str], types.ModuleType]:
    """Import ``docs/snippets/<name>.py`` by path, as a fresh module (in ``sys.modules``
    while the test runs: Pyramid looks its caller's package up there)."""

    def load(name: str) -> types.ModuleType:
        module_name = f"snippet_{name}"
        spec = importlib.util.spec_from_file_location(module_name, SNIPPETS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, module_name, module)
        spec.loader.exec_module(module)
        return module

    return load


def test_flask_config_wins_and_the_environment_fills_the_rest(
        load: t.Callable[[str], types.ModuleType],
        pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch) -> None:
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_AUDIENCE", "other.example.com")  # the config's wins
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)
        monkeypatch.setenv("POMERIUM_LEEWAY", "10")
        app = load("configuration_flask").app
        verifier = app.extensions["pomerium"].verifier
        assert verifier.audiences == {"app.example.com"} and verifier.leeway == 10
        client = app.test_client()
        assert client.get("/", headers=pomerium.headers("ada@example.com")).json == {
            "email": "ada@example.com"}
        assert client.get("/").status_code == 401
        assert client.get("/healthz").text == "ok"


def test_bottle_options_from_the_environment(
        load: t.Callable[[str], types.ModuleType], pomerium: FakePomerium,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POMERIUM_JWKS", json.dumps(pomerium.jwks))
    monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
    client = Client(load("configuration_bottle").app)
    assert client.get("/", headers=pomerium.headers("ada@example.com")).json == {
        "email": "ada@example.com"}
    assert client.get("/").json == {"email": None}


def test_pyramid_ini_settings_and_the_environment(
        load: t.Callable[[str], types.ModuleType], pomerium: FakePomerium, tmp_path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ini = configparser.ConfigParser()
    ini.read(SNIPPETS / "configuration_pyramid.ini")
    settings = {k: v for k, v in ini["app:main"].items() if k != "use"}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(pomerium.jwks))
    monkeypatch.setenv("POMERIUM_JWKS", str(jwks))  # a file path works too
    client = Client(load("configuration_pyramid").main({}, **settings))
    assert client.get("/", headers=pomerium.headers("ada@example.com")).text == (
        "Hello, ada@example.com")
    assert client.get("/").status_code == 401
    assert client.get("/healthz").status_code == 404  # exempt: no token asked, no route


def test_plain_wsgi_verifier_from_env(
        load: t.Callable[[str], types.ModuleType], pomerium: FakePomerium,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POMERIUM_AUDIENCE", pomerium.audience)
    monkeypatch.setenv("POMERIUM_JWKS", json.dumps(pomerium.jwks))
    monkeypatch.setenv("POMERIUM_LEEWAY", "20")
    module = load("configuration_wsgi")
    assert module.verifier.leeway == 10  # the keyword argument wins
    assert isinstance(module.verifier.keys, StaticKeys)
    client = Client(module.app)
    assert client.get("/", headers=pomerium.headers("ada@example.com")).text == (
        "Hello, ada@example.com")
    assert client.get("/healthz").text == "ok"
    assert client.get("/").status_code == 401


def test_a_ready_verifier_wins(
        load: t.Callable[[str], types.ModuleType], monkeypatch: pytest.MonkeyPatch) -> None:
    from pyramid.interfaces import ISecurityPolicy

    monkeypatch.setenv("POMERIUM_AUDIENCE", "env.example.com")
    config = load("configuration_ready_verifier").make_config({
        "redis.host": "127.0.0.1", "redis.port": "6379",
        "pomerium.audience": "ignored.example.com"})
    config.commit()
    verifier = config.registry.queryUtility(ISecurityPolicy).verifier
    assert isinstance(verifier, Verifier) and verifier.audiences == {"app.example.com"}


def test_page_lists_every_environment_variable_and_snippet() -> None:
    page = (DOCS / "configuration.md").read_text()
    for name in ENV_SETTINGS:
        assert f"`{env_name(name)}`" in page
    for snippet in SNIPPETS.glob("configuration_*"):
        assert f"snippets/{snippet.name}" in page
    # Every code block on the page is a literalinclude or a console session.
    for language in re.findall(r"^```(\S*)", page, flags=re.MULTILINE):
        assert language in ("", "{literalinclude}", "console"), language
