"""The cost of refusing one anonymous request, by size of its ``Accept`` header.

A refusal (401) happens before authentication, so anyone can make the app pay for it.
This measures one refused request (no token) through the core ``PomeriumMiddleware`` and
through each adapter (Flask, Bottle, Pyramid), called in-process as a WSGI app (no server,
no network), with ``Accept: */*`` and with a huge ``Accept`` (200 KB by default, a list of
``application/json, `` repeated, which is what made parsing expensive).

To compare two versions in the same run, give the other version's source tree (a checkout
or a ``git archive`` of it, holding ``pomerium_wsgi/`` and ``adapters/``)::

    $ python benchmarks/bench_refusal.py --before /tmp/old-checkout
    $ python benchmarks/bench_refusal.py --accept-size 8000 --json out.json

Each version runs in its own subprocess (so each imports its own code); every figure is the
median of the per-request times of several rounds. Asserts nothing; prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
import typing as t

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
FRAMEWORKS = ("core", "flask", "bottle", "pyramid")


def _apps() -> dict[str, t.Callable[..., t.Iterable[bytes]]]:
    """One refusing WSGI app per framework, each verifying with the same static keys."""
    from pomerium_wsgi import PomeriumMiddleware
    from pomerium_wsgi.testing import FakePomerium

    fake = FakePomerium()

    def hello(environ: t.Any, start_response: t.Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    apps: dict[str, t.Callable[..., t.Iterable[bytes]]] = {
        "core": PomeriumMiddleware(hello, fake.verifier())}

    import flask

    from flask_pomerium import Pomerium

    flask_app = flask.Flask("bench")
    flask_app.add_url_rule("/", "index", lambda: "hello")
    Pomerium(flask_app, verifier=fake.verifier())
    apps["flask"] = flask_app.wsgi_app

    import bottle

    from bottle_pomerium import PomeriumPlugin

    bottle_app = bottle.Bottle()
    bottle_app.route("/", callback=lambda: "hello")
    bottle_app.install(PomeriumPlugin(fake.verifier()))
    apps["bottle"] = bottle_app

    from pyramid.config import Configurator
    from pyramid.response import Response

    with Configurator(settings={"pomerium.verifier": fake.verifier()}) as config:
        config.include("pyramid_pomerium")
        config.add_route("index", "/")
        config.add_view(lambda request: Response("hello"), route_name="index")
        apps["pyramid"] = config.make_wsgi_app()
    return apps


def _one_request(app: t.Callable[..., t.Iterable[bytes]], accept: str) -> str:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SCRIPT_NAME": "",
               "QUERY_STRING": "", "SERVER_NAME": "app.example.com", "SERVER_PORT": "443",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "https",
               "wsgi.input": None, "wsgi.errors": sys.stderr, "wsgi.multithread": False,
               "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
               "HTTP_HOST": "app.example.com", "HTTP_ACCEPT": accept}
    seen: list[str] = []
    body = app(environ, lambda status, headers, exc_info=None: seen.append(status))
    b"".join(body)
    close = getattr(body, "close", None)
    if close is not None:
        close()
    return seen[0]


def _measure(app: t.Callable[..., t.Iterable[bytes]], accept: str, budget: float) -> float:
    """Median seconds per refused request over rounds that fill about *budget* seconds."""
    status = _one_request(app, accept)
    if not status.startswith("401"):
        raise SystemExit(f"expected a 401, got {status}")
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    while len(samples) < 5 or time.perf_counter() < deadline:
        start = time.perf_counter()
        _one_request(app, accept)
        samples.append(time.perf_counter() - start)
        if len(samples) >= 2000:
            break
    return statistics.median(samples)


def worker(accept_size: int, budget: float) -> dict[str, dict[str, float]]:
    """Measure every framework in this process; returns seconds per request."""
    huge = ("application/json, " * (accept_size // 18 + 1))[:accept_size]
    results: dict[str, dict[str, float]] = {}
    for name, app in _apps().items():
        results[name] = {"any": _measure(app, "*/*", budget),
                         "huge": _measure(app, huge, budget)}
    return results


def run_version(source: pathlib.Path, accept_size: int, budget: float) -> dict[str, t.Any]:
    """Run :func:`worker` in a subprocess that imports the code under *source*."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(source), str(source / "adapters"),
                                         env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, __file__, "--worker", "--accept-size", str(accept_size),
         "--budget", str(budget), "--source", str(source)],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    return t.cast(dict[str, t.Any], json.loads(out))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=pathlib.Path,
                        help="source tree of another version, measured in the same run")
    parser.add_argument("--accept-size", type=int, default=200_000,
                        help="characters of the huge Accept header (default 200000)")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds of requests per measurement (default 1)")
    parser.add_argument("--json", type=pathlib.Path, help="also write the figures here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        import pomerium_wsgi

        source = pathlib.Path(pomerium_wsgi.__file__).resolve().parent.parent
        if args.source is not None and source != args.source.resolve():
            raise SystemExit(f"imported {source}, not {args.source}")
        print(json.dumps(worker(args.accept_size, args.budget)))
        return
    versions = {"this": ROOT}
    if args.before is not None:
        versions = {"before": args.before.resolve(), "this": ROOT}
    figures = {label: run_version(path, args.accept_size, args.budget)
               for label, path in versions.items()}
    print(f"one refused request (401), Accept */* vs {args.accept_size:,} characters")
    print(f"{'version':8} {'framework':9} {'*/*':>12} {'huge':>12} {'ratio':>8}")
    for label, results in figures.items():
        for name in FRAMEWORKS:
            any_s, huge_s = results[name]["any"], results[name]["huge"]
            print(f"{label:8} {name:9} {any_s * 1e6:9.1f} us {huge_s * 1e6:9.1f} us "
                  f"{huge_s / any_s:7.1f}x")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
