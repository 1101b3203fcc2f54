"""What the documentation tests share: loading snippets by path, and the route's host.

Every page's Python example is a file in ``docs/snippets/``. :func:`load_snippet` imports
one by path, fresh each time (never cached in ``sys.modules``), so a test drives exactly
the code the page shows.

The examples are written as a user writes them, for the host Pomerium routes to the app:
``Verifier("app.example.com")`` fetches ``https://app.example.com/.well-known/pomerium/
jwks.json``. The :func:`route_host` fixture stands in for DNS and TLS: that one URL is
answered by a :class:`FakePomerium` JWKS server on 127.0.0.1, over real HTTP, and every
other URL is left alone. Everything past the socket (fetching, caching, parsing,
verifying) is the code that runs in production.
"""

from __future__ import annotations

import importlib.util
import sys
import typing as t
import urllib.request

import pytest

from pomerium_wsgi.testing import FakePomerium

from ..conftest import ROOT

SNIPPETS = ROOT / "docs" / "snippets"
DOCS = ROOT / "docs"
PRODUCTION_JWKS_URL = "https://app.example.com/.well-known/pomerium/jwks.json"


def load_snippet(name: str) -> t.Any:
    """Import ``docs/snippets/<name>.py`` as a fresh module (replacing any earlier one)."""
    path = SNIPPETS / f"{name}.py"
    assert path.is_file(), f"no snippet {path}"
    spec = importlib.util.spec_from_file_location(f"docs_snippet_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Pyramid's Configurator looks its caller up there
    spec.loader.exec_module(module)
    return module


def page(name: str) -> str:
    """The text of ``docs/<name>.md``."""
    return (DOCS / f"{name}.md").read_text(encoding="utf-8")


@pytest.fixture
def route_host(
    pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch
) -> t.Iterator[FakePomerium]:
    """The fake, serving the keys at Pomerium's JWKS URL for ``app.example.com``."""
    local = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    original = urllib.request.OpenerDirector.open

    def open_(self: urllib.request.OpenerDirector, fullurl: t.Any, *args: t.Any,
              **kwargs: t.Any) -> t.Any:
        url = fullurl if isinstance(fullurl, str) else fullurl.full_url
        if url == PRODUCTION_JWKS_URL and self is not local:
            headers = {} if isinstance(fullurl, str) else dict(fullurl.header_items())
            return original(local, urllib.request.Request(served, headers=headers),
                            *args, **kwargs)
        return original(self, fullurl, *args, **kwargs)

    with pomerium.serve() as served:
        monkeypatch.setattr(urllib.request.OpenerDirector, "open", open_)
        yield pomerium


@pytest.fixture
def python_path() -> t.Iterator[None]:
    """The repository root importable (the snippets' tests import ``examples.*``)."""
    sys.path.insert(0, str(ROOT))
    try:
        yield
    finally:
        sys.path.remove(str(ROOT))
