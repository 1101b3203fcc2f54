"""The server benchmarks' apps timed in a tight loop, in one process: what each costs
before a server's cold caches inflate it.

``bench_gunicorn.py`` compares the same hello-world app bare, behind the *floor* (the
signature check alone), behind *minimal* (the floor plus the least claim checking any
verifier must do) and behind ``PomeriumMiddleware``. This script calls the very same
``gunicorn_app`` factories on fresh tokens (ES256 or RS256), in rounds that rotate the
order, and prints the median microseconds per call of each and the differences, so the
server figures can be read against the work each app does when everything is hot.

Usage::

    python benchmarks/bench_apps.py              # 5 groups, ES256, 3,000 tokens
    python benchmarks/bench_apps.py --groups 200 --speedups
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import typing as t

from _common import AUDIENCE, mint, print_versions, versions

from pomerium_wsgi import _jose
from pomerium_wsgi.testing import FakePomerium

APPS = ("bare", "floor", "minimal", "protected")


def _start_response(status: str, headers: t.Any, exc_info: t.Any = None) -> None:
    return None


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="fresh tokens (calls per round)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--alg", default="ES256", choices=("ES256", "RS256"))
    parser.add_argument("--speedups", action="store_true",
                        help="let the verifier use pybase64 (the [speedups] extra)")
    args = parser.parse_args(argv)

    fake = FakePomerium(AUDIENCE, args.alg)
    tokens = mint(fake, args.n, args.groups)
    with tempfile.TemporaryDirectory() as tmp:
        jwks_file = os.path.join(tmp, "jwks.json")
        with open(jwks_file, "w", encoding="utf-8") as f:
            json.dump(fake.jwks, f)
        os.environ.update(POMERIUM_BENCH_JWKS_FILE=jwks_file, POMERIUM_AUDIENCE=AUDIENCE,
                          POMERIUM_BENCH_SPEEDUPS="on" if args.speedups else "off")
        os.environ.pop("POMERIUM_BENCH_TIMINGS", None)
        import gunicorn_app

        apps = {"bare": gunicorn_app.hello, "floor": gunicorn_app.floor(),
                "minimal": gunicorn_app.minimal(), "protected": gunicorn_app.protected()}
    if args.speedups and _jose.fast_decoder is None:  # type: ignore[attr-defined,unused-ignore]
        raise SystemExit("--speedups: pybase64 is not installed")
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": AUDIENCE,
            "SERVER_PORT": "443", "wsgi.url_scheme": "https", "HTTP_HOST": AUDIENCE}
    environs = [dict(base, HTTP_X_POMERIUM_JWT_ASSERTION=token) for token in tokens]
    for name, app in apps.items():  # every app must answer 200, or its figure means nothing
        if app(dict(environs[0]), _start_response) != [gunicorn_app.BODY]:
            raise SystemExit(f"the {name} app did not answer a good token")

    times: dict[str, list[float]] = {name: [] for name in APPS}
    clock = time.perf_counter
    for r in range(args.rounds):
        shift = r % len(APPS)
        for name in APPS[shift:] + APPS[:shift]:
            app = apps[name]
            work = [dict(environ) for environ in environs]  # (apps write to the environ)
            started = clock()
            for environ in work:
                app(environ, _start_response)
            times[name].append((clock() - started) / len(work) * 1e6)

    print_versions(versions())
    print(f"- base64url: {'pybase64 ([speedups])' if args.speedups else 'standard library'}")
    print(f"\n{args.alg}, {args.groups} groups ({len(tokens[0])} chars), {args.n} fresh tokens, "
          f"median of {args.rounds} rotating rounds, µs per call:\n")
    median = {name: statistics.median(values) for name, values in times.items()}
    print("| app | µs per call | above the previous row |")
    print("|---|---:|---:|")
    previous = None
    for name in APPS:
        above = "" if previous is None else f"{median[name] - median[previous]:.2f}"
        print(f"| {name} | {median[name]:.2f} | {above} |")
        previous = name
    return 0


if __name__ == "__main__":
    sys.exit(main())
