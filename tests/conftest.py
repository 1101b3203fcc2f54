"""Shared fixtures: the project's own pytest plugin, test data paths, free ports."""

from __future__ import annotations

import os
import pathlib
import socket

import pytest

pytest_plugins = ["pomerium_wsgi.testing"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Public test vectors live beside the checkout, never copied into it.
SHARED_TESTDATA = ROOT.parent / "shared" / "testdata"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def testdata() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("POMERIUM_TESTDATA", SHARED_TESTDATA))
    if not path.is_dir():
        pytest.skip(f"test vectors not found at {path} (set POMERIUM_TESTDATA)")
    return path
