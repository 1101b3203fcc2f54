"""The ASGI middleware's own cost, and uvicorn throughput with it, measured in one run.

1. **Middleware cost beyond ``Verifier.verify``**, in process on one asyncio loop: per
   call, ``PomeriumMiddleware`` around a hello-world ASGI app, minus (``verifier.verify``
   of the same token + the bare app). The scope is what uvicorn builds for a request
   behind Pomerium (12 headers). Measured with a repeated token (a token-cache hit, so
   verification is cheap and the middleware's few microseconds stand out of the noise)
   and with fresh tokens (the real per-request case; the difference is then a small
   number between two large ones, so noisier). Rounds are interleaved and the median
   per-call time of each is used. Goal: at most 5 us.
2. **uvicorn hello-world throughput**: three uvicorn servers (one worker each,
   127.0.0.1) serve the hello app behind ``PomeriumMiddleware``, behind the *floor*: a
   raw ``cryptography`` check of the token's signature and nothing else, and behind
   *minimal*: the floor plus the least claim checking any verifier must do (the payload
   decoded and parsed, audience, issuer and times compared). Each request carries a fresh
   pre-minted token; the servers are loaded in rotating rounds by ``wrk`` (or a Python
   load generator). Goal: protected at least 0.9 of the floor.

On a small shared machine the load generator competes with the server, and other work
moves timings by 20-40% between runs: compare the ratios, and rerun to see the spread.

Usage::

    python benchmarks/bench_asgi.py            # about a minute
    python benchmarks/bench_asgi.py --quick    # about 20 s
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import typing as t

from _common import AUDIENCE, mint, print_versions, versions
from bench_gunicorn import Counts, free_port, python_load, serving, wrk_load

from pomerium_wsgi import Verifier, _jose
from pomerium_wsgi.asgi import PomeriumMiddleware
from pomerium_wsgi.testing import FakePomerium

HERE = os.path.dirname(os.path.abspath(__file__))
_FAST_DECODER = getattr(_jose, "fast_decoder", None)
BODY = b"Hello, world!\n"
_START = {"type": "http.response.start", "status": 200,
          "headers": [(b"content-type", b"text/plain"), (b"content-length", b"14")]}
_BODY = {"type": "http.response.body", "body": BODY}


async def hello(scope: t.Any, receive: t.Any, send: t.Any) -> None:
    """The cheapest reasonable ASGI app, so the middleware's cost stands out."""
    await send(_START)
    await send(_BODY)


# -- the apps uvicorn serves (factories: ``bench_asgi:protected``) ---------------------------


def _jwks() -> str:
    with open(os.environ["POMERIUM_BENCH_JWKS_FILE"], encoding="utf-8") as f:
        return f.read()


def protected() -> PomeriumMiddleware:
    """The hello app behind PomeriumMiddleware, keys from the JWKS file; base64url decoded
    as ``POMERIUM_BENCH_SPEEDUPS`` says (see :func:`use_decoder`)."""
    use_decoder(os.environ.get("POMERIUM_BENCH_SPEEDUPS") == "on")
    return PomeriumMiddleware(hello, Verifier(AUDIENCE, jwks=_jwks()))


def use_decoder(speedups: bool) -> str:
    """Make this process's verifiers decode base64url with pybase64 (the ``[speedups]``
    extra) or with the standard library, as the default install does even where pybase64
    happens to be installed; return which, for the report."""
    if speedups:
        if _FAST_DECODER is None:
            raise SystemExit("--speedups: pybase64 is not installed "
                             "(pip install 'pomerium-wsgi[speedups]')")
        _jose.fast_decoder = _FAST_DECODER  # type: ignore[attr-defined,unused-ignore]
        return "pybase64 ([speedups])"
    _jose.fast_decoder = None  # type: ignore[attr-defined,unused-ignore]
    return "standard library (default install)"


def floor(jwks: str | None = None) -> t.Callable[..., t.Awaitable[None]]:
    """The hello app behind the signature check alone (see the module docstring)."""
    return _gate(jwks, claims=False)


def minimal(jwks: str | None = None) -> t.Callable[..., t.Awaitable[None]]:
    """The floor plus the least claim checking any verifier must do (see bench_gunicorn):
    the payload decoded and parsed with the standard library, audience, issuer and times
    compared, the claims put in the scope's state. No strictness, no identity object."""
    return _gate(jwks, claims=True)


def _gate(jwks: str | None, claims: bool) -> t.Callable[..., t.Awaitable[None]]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from pomerium_wsgi.keys import parse_jwks

    (key,) = parse_jwks(jwks or _jwks()).values()
    public: t.Any = key.jwk.public_key
    ecdsa = ec.ECDSA(hashes.SHA256())
    name = b"x-pomerium-jwt-assertion"
    clock = time.time

    async def app(scope: t.Any, receive: t.Any, send: t.Any) -> None:
        if scope["type"] != "http":
            return
        token = b""
        for header, value in scope["headers"]:
            if header == name:
                token = value
        last = token.rfind(b".")
        try:
            signature = base64.urlsafe_b64decode(token[last + 1:] + b"==")
            der = encode_dss_signature(int.from_bytes(signature[:32]),
                                       int.from_bytes(signature[32:]))
            public.verify(der, token[:last], ecdsa)
            if claims:
                payload = json.loads(base64.urlsafe_b64decode(
                    token[token.find(b".") + 1:last] + b"=="))
                now = clock()
                if (payload["aud"] != AUDIENCE or payload["iss"] != AUDIENCE
                        or not payload["iat"] - 30 <= now <= payload["exp"] + 30):
                    raise ValueError("claims")
                scope["state"]["pomerium.claims"] = payload
        except (InvalidSignature, ValueError, KeyError, TypeError):
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await hello(scope, receive, send)

    return app


# -- part 1: the middleware's own cost -------------------------------------------------------


def uvicorn_scope(token: str) -> dict[str, t.Any]:
    """A scope as uvicorn builds it for a request that came through Pomerium."""
    headers = [
        (b"host", b"app.example.com"), (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64)"),
        (b"accept", b"application/json"), (b"accept-encoding", b"gzip, deflate, br"),
        (b"accept-language", b"en-GB,en;q=0.9"), (b"x-forwarded-for", b"203.0.113.7"),
        (b"x-forwarded-proto", b"https"), (b"x-request-id", b"9f0c1e2d-0000-4000-8000-1"),
        (b"x-envoy-expected-rq-timeout-ms", b"30000"), (b"x-envoy-internal", b"true"),
        (b"x-pomerium-jwt-assertion", token.encode("ascii")), (b"cookie", b"a=b"),
    ]
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1", "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000), "scheme": "http", "method": "GET",
            "root_path": "", "path": "/", "raw_path": b"/", "query_string": b"",
            "headers": headers, "state": {}}


async def _receive() -> dict[str, t.Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: t.Any) -> None:
    return None


async def _time_calls(kind: str, app: t.Any, verifier: Verifier,
                      work: list[tuple[dict[str, t.Any], str]], raw: t.Any) -> float:
    """Seconds per call of one *kind* over *work*."""
    start = time.perf_counter()
    if kind == "floor":
        for scope, _ in work:
            await raw(scope, _receive, _send)
    elif kind == "bare":
        for scope, _ in work:
            await hello(scope, _receive, _send)
    elif kind == "verify":
        verify = verifier.verify
        for scope, token in work:
            verify(token)
            await hello(scope, _receive, _send)
    else:
        for scope, _ in work:
            await app(scope, _receive, _send)
    return (time.perf_counter() - start) / len(work)


async def _measure(app: t.Any, verifier: Verifier, work: list[tuple[dict[str, t.Any], str]],
                   raw: t.Any, rounds: int, times: dict[str, list[float]]) -> None:
    """Rounds of each kind, in rotating order so that noise falls on all alike."""
    await _time_calls("middleware", app, verifier, work[:50], raw)  # warm up
    order = ("bare", "floor", "verify", "middleware")
    for r in range(rounds):
        for kind in order[r % 4:] + order[:r % 4]:
            times[kind].append(await _time_calls(kind, app, verifier, work, raw))


def middleware_cost(n: int, rounds: int) -> dict[str, dict[str, float]]:
    """Median us per call of bare / verify+bare / middleware, and the difference."""
    fake = FakePomerium(AUDIENCE)
    results: dict[str, dict[str, float]] = {}
    for case in ("repeated token", "fresh tokens"):
        if case == "repeated token":
            token = fake.token()
            tokens = [token] * n
            verifier = Verifier(AUDIENCE, jwks=fake.jwks)
        else:
            tokens = mint(fake, n, 5)
            verifier = Verifier(AUDIENCE, jwks=fake.jwks, token_cache_size=0)
        work = [(uvicorn_scope(tok), tok) for tok in tokens]
        app = PomeriumMiddleware(hello, verifier)
        raw = floor(json.dumps(fake.jwks))
        times: dict[str, list[float]] = {"bare": [], "floor": [], "verify": [], "middleware": []}

        asyncio.run(_measure(app, verifier, work, raw, rounds, times))
        medians = {kind: statistics.median(values) * 1e6 for kind, values in times.items()}
        medians["cost"] = medians["middleware"] - medians["verify"]
        results[case] = medians
    return results


# -- part 2: uvicorn throughput -------------------------------------------------------------


@contextlib.contextmanager
def uvicorn(factory: str, env: dict[str, str]) -> t.Iterator[int]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", HERE, "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
               "--log-level", "warning", "--workers", "1", f"bench_asgi:{factory}"]
    with serving(command, port, env):
        yield port


def throughput(args: argparse.Namespace) -> dict[str, float]:
    fake = FakePomerium(AUDIENCE)
    pool = mint(fake, args.tokens, 5)
    wrk = shutil.which("wrk") if args.loadgen in ("auto", "wrk") else None
    per_round = args.duration / args.rounds
    names = ("floor", "minimal", "protected")
    totals = {name: Counts() for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        jwks_file = os.path.join(tmp, "jwks.json")
        with open(jwks_file, "w", encoding="utf-8") as f:
            json.dump(fake.jwks, f)
        env = {"POMERIUM_BENCH_JWKS_FILE": jwks_file,
               "POMERIUM_BENCH_SPEEDUPS": "on" if args.speedups else "off"}
        with contextlib.ExitStack() as stack:
            ports = {name: stack.enter_context(uvicorn(name, env)) for name in names}
            for r in range(args.rounds):
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    if wrk:
                        counts = wrk_load(ports[name], pool, per_round, args, wrk)
                    else:
                        counts = python_load(ports[name], pool, per_round, args)
                    totals[name].add(counts)
    rates = {name: c.ok / c.seconds for name, c in totals.items()}
    for name, c in totals.items():
        if c.other_status or c.errors:
            print(f"warning: {name}: {c.other_status} non-200 answers, {c.errors} errors")
    rates["ratio"] = rates["protected"] / rates["floor"]
    rates["minimal_ratio"] = rates["minimal"] / rates["floor"]
    print(f"load generator: {'wrk' if wrk else 'Python'}; {args.procs} threads x "
          f"{args.threads} connections; {args.rounds} rotating rounds, "
          f"{per_round:.1f} s each per server")
    return rates


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run, for a smoke test")
    parser.add_argument("--n", type=int, default=2000, help="calls per round (part 1)")
    parser.add_argument("--cost-rounds", type=int, default=15)
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds of load per server (part 2)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=20000, help="pre-minted token pool")
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--loadgen", choices=("auto", "python", "wrk"), default="auto")
    parser.add_argument("--speedups", action="store_true",
                        help="let the verifier use pybase64 (the [speedups] extra); "
                        "default: the standard library's decoder, as installed by default")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.cost_rounds, args.duration, args.rounds = 500, 5, 6.0, 2
        args.tokens = 4000
    base64url = use_decoder(args.speedups)
    print_versions(versions())
    print(f"- base64url: {base64url}")
    print("\n1. ASGI middleware cost beyond Verifier.verify (median us per call)")
    cost = middleware_cost(args.n, args.cost_rounds)
    print(f"{'case':<16} {'bare app':>9} {'floor app':>10} {'verify+app':>11} "
          f"{'middleware':>11} {'cost':>7}")
    for case, m in cost.items():
        print(f"{case:<16} {m['bare']:>9.2f} {m['floor']:>10.2f} {m['verify']:>11.2f} "
              f"{m['middleware']:>11.2f} {m['cost']:>7.2f}")
    print("   cost = middleware - (verify + app); goal: cost <= 5 us. floor app = the raw")
    print("   signature check + app (the uvicorn floor below), for the share of verify itself")
    print("\n2. uvicorn hello-world, 1 worker: requests per second")
    rates = throughput(args)
    print(f"floor (signature check only) {rates['floor']:>9.0f} req/s")
    print(f"PomeriumMiddleware           {rates['protected']:>9.0f} req/s")
    print(f"minimal (floor + claims)     {rates['minimal']:>9.0f} req/s")
    print(f"ratio protected / floor      {rates['ratio']:>9.3f}   goal: >= 0.9")
    print(f"ratio minimal / floor        {rates['minimal_ratio']:>9.3f}   (the least claim "
          "checking any verifier must do)")
    print(f"ratio protected / minimal    {rates['protected'] / rates['minimal']:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
