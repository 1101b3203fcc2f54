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

from pomerium_wsgi import _jose
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
    monkeypatch.setenv("POMERIUM_BENCH_SPEEDUPS", "off")
    # The benchmarks choose the process's base64url decoder; put it back afterwards.
    monkeypatch.setattr(_jose, "fast_decoder", _jose.fast_decoder)
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
    # (what, claims given to FakePomerium.token or None for a forged one, and the status
    # expected from floor, minimal and protected)
    ("good", {}, 200, 200, 200),
    ("other-audience", {"aud": "other.example.com", "iss": "other.example.com"}, 200, 401, 401),
    ("expired", {"iat": time.time() - 7200, "exp": time.time() - 3600}, 200, 401, 401),
    ("forged", None, 401, 401, 401),
]


def wsgi_status(bench: dict[str, types.ModuleType], name: str, token: str) -> int:
    """The status the gunicorn_app factory *name* answers a request carrying *token*."""
    client = Client(getattr(bench["gunicorn_app"], name)())
    return client.get("/", headers={"X-Pomerium-Jwt-Assertion": token}).status_code


def asgi_status(bench: dict[str, types.ModuleType], name: str, token: str) -> int:
    """The status the bench_asgi factory *name* answers a uvicorn-shaped scope with."""
    asgi = bench["bench_asgi"]
    sent: list[dict[str, t.Any]] = []

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message)

    app = getattr(asgi, name)()
    asyncio.run(app(asgi.uvicorn_scope(token), asgi._receive, send))
    return int(sent[0]["status"])


@pytest.mark.parametrize("status_of", [wsgi_status, asgi_status], ids=["gunicorn", "uvicorn"])
@pytest.mark.parametrize("what, claims, floor, minimal, protected", CASES,
                         ids=[case[0] for case in CASES])
def test_comparison_apps_verify(bench: dict[str, types.ModuleType], pomerium: FakePomerium,
                                status_of: t.Callable[..., int], what: str,
                                claims: dict[str, t.Any] | None,
                                floor: int, minimal: int, protected: int) -> None:
    # bench_asgi's minimal() compares with its own AUDIENCE, as its servers are set up.
    assert pomerium.audience == bench["bench_asgi"].AUDIENCE
    token = forged(pomerium.token()) if claims is None else pomerium.token(**claims)
    expected = {"floor": floor, "minimal": minimal, "protected": protected}
    assert {name: status_of(bench, name, token) for name in expected} == expected


def test_minimal_refuses_a_request_without_a_token(bench: dict[str, types.ModuleType]) -> None:
    assert Client(bench["gunicorn_app"].minimal()).get("/").status_code == 401


def test_bench_apps_times_the_four_apps(bench: dict[str, types.ModuleType],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    bench_apps = importlib.import_module("bench_apps")
    try:
        assert bench_apps.main(["--n", "20", "--rounds", "4"]) == 0
    finally:
        sys.modules.pop("bench_apps", None)
    rows = {line.split("|")[1].strip(): float(line.split("|")[2])
            for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and not line.startswith("| app")}
    assert set(rows) == {"bare", "floor", "minimal", "protected"}
    # The signature check dominates every app but bare.
    assert rows["bare"] < rows["floor"] and rows["bare"] < rows["protected"]
