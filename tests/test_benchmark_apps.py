"""The benchmarks' comparison apps really verify, or their ratios would mean nothing.

``bench_gunicorn.py`` and ``bench_asgi.py`` measure PomeriumMiddleware against a *floor*
(the signature check alone) and *minimal* (the floor plus the least claim checking any
verifier must do). An app that let a forged token through would make the library look
slow for the wrong reason, so each is checked here with good and bad tokens.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pathlib
import sys
import time
import types
import typing as t

import pytest
from werkzeug.test import Client

from pomerium_wsgi.testing import FakePomerium

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path,
          pomerium: FakePomerium) -> t.Iterator[dict[str, types.ModuleType]]:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(pomerium.jwks), encoding="utf-8")
    monkeypatch.setenv("POMERIUM_BENCH_JWKS_FILE", str(jwks_file))
    monkeypatch.setenv("POMERIUM_AUDIENCE", pomerium.audience)
    monkeypatch.delenv("POMERIUM_BENCH_TIMINGS", raising=False)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    names = ("_common", "bench_gunicorn", "gunicorn_app", "bench_asgi")
    yield {name: importlib.import_module(name) for name in names}
    for name in names:
        sys.modules.pop(name, None)


def forged(token: str) -> str:
    """*token* with its signature's first characters changed."""
    head, _, signature = token.rpartition(".")
    return f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


CASES = [
    # (what, claims given to FakePomerium.token, floor, minimal, protected)
    ("good", {}, 200, 200, 200),
    ("other-audience", {"aud": "other.example.com", "iss": "other.example.com"}, 200, 401, 401),
    ("expired", {"iat": time.time() - 7200, "exp": time.time() - 3600}, 200, 401, 401),
    ("forged", None, 401, 401, 401),
]


@pytest.mark.parametrize("what, claims, floor, minimal, protected", CASES,
                         ids=[case[0] for case in CASES])
def test_gunicorn_comparison_apps_verify(bench: dict[str, types.ModuleType],
                                         pomerium: FakePomerium, what: str,
                                         claims: dict[str, t.Any] | None,
                                         floor: int, minimal: int, protected: int) -> None:
    app = bench["gunicorn_app"]
    token = forged(pomerium.token()) if claims is None else pomerium.token(**claims)
    expected = {"floor": floor, "minimal": minimal, "protected": protected}
    for name, status in expected.items():
        client = Client(getattr(app, name)())
        answer = client.get("/", headers={"X-Pomerium-Jwt-Assertion": token})
        assert answer.status_code == status, name
    assert Client(app.minimal()).get("/").status_code == 401  # no token at all


@pytest.mark.parametrize("what, claims, floor, minimal, protected", CASES,
                         ids=[case[0] for case in CASES])
def test_asgi_comparison_apps_verify(bench: dict[str, types.ModuleType],
                                     pomerium: FakePomerium, what: str,
                                     claims: dict[str, t.Any] | None,
                                     floor: int, minimal: int, protected: int) -> None:
    asgi = bench["bench_asgi"]
    token = forged(pomerium.token()) if claims is None else pomerium.token(**claims)

    async def status_of(app: t.Any) -> int:
        sent: list[dict[str, t.Any]] = []

        async def send(message: dict[str, t.Any]) -> None:
            sent.append(message)

        await app(asgi.uvicorn_scope(token), asgi._receive, send)
        return int(sent[0]["status"])

    # bench_asgi's minimal() compares with its own AUDIENCE, as its servers are set up.
    assert pomerium.audience == asgi.AUDIENCE
    expected = {"floor": floor, "minimal": minimal, "protected": protected}
    for name, status in expected.items():
        assert asyncio.run(status_of(getattr(asgi, name)())) == status, name
