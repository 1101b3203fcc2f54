"""Fixtures for the security tests: one World (keys, loopback servers) per session."""

from __future__ import annotations

import typing as t

import pytest

from ._corpus import World
from ._support import CountingListener, DocumentServer


@pytest.fixture(scope="session")
def world() -> t.Iterator[World]:
    """Real keys, a listener that must never be contacted, a JWKS document server."""
    with CountingListener() as listener, DocumentServer() as server:
        yield World(listener, server)
