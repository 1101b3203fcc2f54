"""docs/performance.md: the token-cache snippet does what the page says."""

from __future__ import annotations

import importlib.util
import pathlib
import types

import pytest

from pomerium_wsgi import TokenExpired
from pomerium_wsgi.testing import FakePomerium

from ..helpers import Clock

SNIPPET = pathlib.Path(__file__).resolve().parents[2] / "docs" / "snippets" / "token_cache.py"


@pytest.fixture
def snippet() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("token_cache_snippet", SNIPPET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_verifier_checks_every_token_in_full(snippet: types.ModuleType,
                                                     clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    verifier = snippet.behind_pomerium(fake.jwks)
    verifier.clock = clock
    token = fake.token("ada@example.com")
    assert verifier.token_cache_size == 0
    assert verifier.verify(token) is not verifier.verify(token)


def test_cache_answers_a_repeat_until_the_token_expires(snippet: types.ModuleType,
                                                        clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    verifier = snippet.for_repeated_tokens(fake.jwks)
    verifier.clock = clock
    token = fake.token("ada@example.com")
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # answered from the cache
    clock.advance(300 + verifier.leeway + 1)
    with pytest.raises(TokenExpired):
        verifier.verify(token)
