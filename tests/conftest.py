"""Shared fixtures: the project's own pytest plugin, test data paths, free ports, a clock."""

from __future__ import annotations

import os
import pathlib
import socket
import typing as t

import pytest

from .helpers import Clock

if t.TYPE_CHECKING:  # imported in the fixture: the plugin above must load it first
    from pomerium_wsgi.testing import FakePomerium

pytest_plugins = ["pomerium_wsgi.testing"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Public test vectors live beside the checkout, never copied into it.
SHARED_TESTDATA = ROOT.parent / "shared" / "testdata"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _no_pomerium_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every adapter reads POMERIUM_* variables: a shell that exports some (say, under
    ``pomerium-wsgi dev``) must not change what the tests see. Tests set their own."""
    from pomerium_wsgi.settings import ENV_SETTINGS, env_name

    for name in ENV_SETTINGS:
        monkeypatch.delenv(env_name(name), raising=False)


@pytest.fixture
def testdata() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("POMERIUM_TESTDATA", SHARED_TESTDATA))
    if not path.is_dir():
        pytest.skip(f"test vectors not found at {path} (set POMERIUM_TESTDATA)")
    return path


@pytest.fixture
def clock() -> Clock:
    """A settable clock (verifiers and fakes built with it never read the real time)."""
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakePomerium:
    """A FakePomerium (ES256) on the test's clock; some modules override it."""
    from pomerium_wsgi.testing import FakePomerium

    return FakePomerium(clock=clock)


@pytest.fixture(autouse=True)
def _pure_base64(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs the default decoder (the standard library's) unless it asks for
    the [speedups] one through ``base64_decoder``: the dev install has both."""
    from pomerium_wsgi import _jose

    monkeypatch.setattr(_jose, "fast_decoder", None)


@pytest.fixture(params=["pure", "pybase64"])
def base64_decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                   _pure_base64: None) -> str:
    """Run the test with each base64url decoder: the default and the [speedups] one."""
    import functools

    from pomerium_wsgi import _jose

    if request.param == "pybase64":
        import pybase64

        monkeypatch.setattr(_jose, "fast_decoder", functools.partial(
            pybase64.b64decode, altchars=b"-_", validate=True))
    return str(request.param)
