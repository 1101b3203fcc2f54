"""Requests per second of a hello-world WSGI app under gunicorn, with and without
PomeriumMiddleware, measured by the same load generator in the same run.

Four gunicorn servers (2 workers each, 127.0.0.1, free ports) serve
``gunicorn_app:hello`` bare, behind the middleware, behind the *floor*: a raw
``cryptography`` check of the token's signature and nothing else (so its throughput is
the most a Python verifier could reach on this machine, whatever it does around
OpenSSL), and behind *minimal*: the floor plus the least claim checking any verifier must
do (the payload decoded and parsed, audience, issuer and times compared), written
plainly. Keys come from a FakePomerium: its JWKS is served over HTTP from this process
(each worker fetches it once, as from Pomerium), or with ``--static-keys`` written to a
temporary file. Every request carries a fresh pre-minted token, to every server alike,
so the only difference is verification.

The load generator is ``wrk`` when it is installed (a Lua script rotates the tokens),
else a Python one: a few processes, each with a pool of threads on keep-alive
``http.client`` connections (gunicorn's sync workers close the connection after each
response; the client then reconnects, as any client would). The servers are loaded in
rotating rounds (bare, floor, minimal, protected; floor, minimal, protected, bare; ...)
so that noise from a shared machine falls on all alike. On a small machine the load
generator competes with the servers for the CPU: compare the ratios, not the absolute
numbers.

Usage::

    python benchmarks/bench_gunicorn.py              # 10 s per app, in 3 rotating rounds
    python benchmarks/bench_gunicorn.py --quick      # 2 s per app
    python benchmarks/bench_gunicorn.py --static-keys --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import math
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from dataclasses import dataclass

from _common import AUDIENCE, mint, print_versions, rss_kib, versions

from pomerium_wsgi.testing import FakePomerium

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = "X-Pomerium-Jwt-Assertion"


@dataclass
class Counts:
    """What one load-generator run saw."""

    ok: int = 0
    other_status: int = 0
    errors: int = 0
    wrapped: bool = False  # the token pool ran out and was reused
    seconds: float = 0.0
    server_cpu: float = 0.0  # CPU seconds the gunicorn workers spent meanwhile

    def add(self, other: Counts) -> None:
        self.ok += other.ok
        self.other_status += other.other_status
        self.errors += other.errors
        self.wrapped = self.wrapped or other.wrapped
        self.seconds += other.seconds
        self.server_cpu += other.server_cpu


def decoder(speedups: bool) -> str:
    """Which base64url decoder the verifier uses, for the report."""
    if not speedups:
        return "standard library (default install)"
    from pomerium_wsgi import _jose

    if getattr(_jose, "fast_decoder", None) is None:
        raise SystemExit("--speedups: pybase64 is not installed "
                         "(pip install 'pomerium-wsgi[speedups]')")
    return "pybase64 ([speedups])"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the servers ---------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], args: argparse.Namespace
             ) -> t.Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A gunicorn serving *app* on a free loopback port; stopped on exit, always."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--chdir", HERE, "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers), "--worker-class", args.worker_class,
        "--log-level", "warning", "--timeout", "60", "--graceful-timeout", "5",
        *control_socket_off(), app,
    ]
    with serving(command, port, env) as process:
        yield port, process


@contextlib.contextmanager
def serving(command: list[str], port: int, env: dict[str, str]
            ) -> t.Iterator[subprocess.Popen[bytes]]:
    """Run the server *command* until it answers on *port*; stop it on exit, always."""
    process = subprocess.Popen(command, env={**os.environ, **env})
    try:
        wait_ready(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@functools.cache
def control_socket_off() -> tuple[str, ...]:
    """``--no-control-socket`` where gunicorn has one (newer releases open a control
    socket in the home directory by default, shared by every gunicorn of the user)."""
    text = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True,
                          text=True, timeout=60, check=False).stdout
    return ("--no-control-socket",) if "--no-control-socket" in text else ()


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until the server answers HTTP at all (any status), for at most *timeout*."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn on port {port} not ready after {timeout:.0f} s")


def get(port: int, token: str | None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/", headers={HEADER: token} if token else {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def worker_pids(master: int) -> list[str]:
    """The gunicorn master's children (its workers), from /proc (Linux)."""
    try:
        with open(f"/proc/{master}/task/{master}/children", encoding="ascii") as f:
            return f.read().split()
    except OSError:
        return []


def workers_rss_mib(master: int) -> list[float]:
    """RSS of the gunicorn workers, in MiB."""
    try:
        return [rss_kib(pid) / 1024 for pid in worker_pids(master)]
    except (OSError, RuntimeError):
        return []


_TICKS = os.sysconf("SC_CLK_TCK")


def workers_cpu_seconds(master: int) -> float:
    """User + system CPU seconds used so far by the gunicorn workers.

    Requests per second on a machine shared with the load generator (and anything else)
    is noisy; the workers' CPU time per request is a steadier measure of the server-side
    cost, and its difference between the two servers is what verification costs there.
    """
    total = 0
    for pid in worker_pids(master):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / _TICKS


# -- the Python load generator ---------------------------------------------------------------


def _client_thread(port: int, tokens: list[str], start_at: float, deadline: float,
                   result: list[Counts]) -> None:
    counts = Counts()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    i = 0
    size = len(tokens)
    time.sleep(max(0.0, start_at - time.time()))
    while time.time() < deadline:
        if i == size:
            i, counts.wrapped = 0, True
        token = tokens[i]
        i += 1
        try:
            conn.request("GET", "/", headers={HEADER: token})
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            counts.errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        if response.status == 200:
            counts.ok += 1
        else:
            counts.other_status += 1
    conn.close()
    result.append(counts)


def _client_process(port: int, tokens: list[str], threads: int, start_at: float,
                    deadline: float, queue: t.Any) -> None:
    result: list[Counts] = []
    pool = [threading.Thread(target=_client_thread,
                             args=(port, tokens[n::threads], start_at, deadline, result))
            for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    total = Counts()
    for counts in result:
        total.add(counts)
    queue.put((total.ok, total.other_status, total.errors, total.wrapped))


def python_load(port: int, tokens: list[str], seconds: float, args: argparse.Namespace
                ) -> Counts:
    """Load *port* for *seconds* from args.procs processes x args.threads connections."""
    context = multiprocessing.get_context("fork")  # the token pool is shared, not copied
    queue = context.Queue()
    start_at = time.time() + 0.5
    deadline = start_at + seconds
    procs = [context.Process(target=_client_process,
                             args=(port, tokens[p::args.procs], args.threads, start_at,
                                   deadline, queue))
             for p in range(args.procs)]
    for proc in procs:
        proc.start()
    total = Counts(seconds=seconds)
    try:
        for _ in procs:
            ok, other, errors, wrapped = queue.get(timeout=seconds + 60)
            total.add(Counts(ok, other, errors, wrapped))
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
    return total


# -- wrk -------------------------------------------------------------------------------------

_WRK_SCRIPT = """
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do tokens[#tokens + 1] = line end
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  i = math.floor(id * #tokens / %(threads)d)
end
function request()
  i = i %% #tokens + 1
  return wrk.format("GET", "/", {["%(header)s"] = tokens[i]})
end
"""


def wrk_load(port: int, tokens: list[str], seconds: float, args: argparse.Namespace,
             wrk: str) -> Counts:
    """Load *port* with wrk, each request carrying the next token of the pool."""
    threads = args.procs
    connections = args.procs * args.threads
    with tempfile.TemporaryDirectory() as tmp:
        tokens_file = os.path.join(tmp, "tokens.txt")
        script = os.path.join(tmp, "tokens.lua")
        with open(tokens_file, "w", encoding="ascii") as f:
            f.write("\n".join(tokens) + "\n")
        with open(script, "w", encoding="ascii") as f:
            f.write(_WRK_SCRIPT % {"threads": threads, "header": HEADER})
        output = subprocess.run(
            [wrk, f"-t{threads}", f"-c{connections}", f"-d{math.ceil(seconds)}s", "-s", script,
             f"http://127.0.0.1:{port}/"],
            env={**os.environ, "BENCH_TOKENS_FILE": tokens_file},
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout
    done = re.search(r"(\d+) requests in", output)
    if done is None:
        raise RuntimeError("could not read wrk's output:\n" + output)
    total = int(done.group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    other = int(non_2xx.group(1)) if non_2xx else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    error_count = sum(int(g) for g in errors.groups()) if errors else 0
    return Counts(ok=total - other, other_status=other, errors=error_count,
                  wrapped=total > len(tokens), seconds=math.ceil(seconds))


# -- main ------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    info = versions()
    base64url = decoder(args.speedups)  # (refuses --speedups without pybase64, up front)
    wrk = shutil.which("wrk") if args.loadgen in ("auto", "wrk") else None
    if args.loadgen == "wrk" and not wrk:
        print("wrk is not installed", file=sys.stderr)
        return 2
    fake = FakePomerium(AUDIENCE, args.alg)
    started = time.perf_counter()
    tokens = mint(fake, args.tokens, args.groups)
    print(f"minted {len(tokens)} {args.alg} tokens with {args.groups} groups "
          f"({len(tokens[0])} chars) in {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
    rounds = args.rounds
    per_round = args.duration / rounds
    # Each round loads both servers with the same slice; slices never overlap.
    slices = [tokens[r::rounds] for r in range(rounds)]
    warmup = mint(fake, 2000, args.groups)

    def load(port: int, master: int, pool: list[str]) -> Counts:
        cpu_before = workers_cpu_seconds(master)
        if wrk:
            counts = wrk_load(port, pool, per_round, args, wrk)
        else:
            counts = python_load(port, pool, per_round, args)
        counts.server_cpu = workers_cpu_seconds(master) - cpu_before
        return counts

    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        env = {"POMERIUM_AUDIENCE": AUDIENCE,
               "POMERIUM_BENCH_SPEEDUPS": "on" if args.speedups else "off"}
        if args.static_keys:
            jwks_file = os.path.join(tmp, "jwks.json")
            with open(jwks_file, "w", encoding="utf-8") as f:
                json.dump(fake.jwks, f)
            env["POMERIUM_BENCH_JWKS_FILE"] = jwks_file
        else:
            env["POMERIUM_JWKS_URL"] = stack.enter_context(fake.serve())
        bare_port, bare_proc = stack.enter_context(gunicorn("gunicorn_app:hello", env, args))
        prot_port, prot = stack.enter_context(gunicorn("gunicorn_app:protected()", env, args))
        floor_port, floor_proc = stack.enter_context(gunicorn("gunicorn_app:floor()", env, args))
        min_port, min_proc = stack.enter_context(gunicorn("gunicorn_app:minimal()", env, args))
        # Prove the protected and floor servers really verify: a fresh token passes, a
        # forged one is refused. Then warm all up under concurrent load, so that every
        # worker has imported everything and fetched its keys before the measured rounds.
        forged = warmup[1][:-8] + ("AAAAAAAA" if not warmup[1].endswith("AAAAAAAA") else "BBBBBBBB")
        for port in (prot_port, floor_port, min_port):
            if get(port, warmup[0]) != 200 or get(port, forged) != 401:
                raise RuntimeError(f"the server on port {port} does not verify as expected: "
                                   "check the keys and the audience")
        for port in (bare_port, prot_port, floor_port, min_port):
            counts = python_load(port, warmup[2:], 1.0, args)
            if counts.other_status or counts.errors:
                raise RuntimeError(f"warm-up on port {port}: {counts}")
        keys_fetched = fake.jwks_requests
        if not args.static_keys and keys_fetched < 2 * args.workers:
            print(f"note: only {keys_fetched} of {2 * args.workers} verifying workers fetched "
                  "their keys during the warm-up", file=sys.stderr)

        names = ("bare", "floor", "minimal", "protected")
        results = {name: Counts() for name in names}
        ports = {"bare": bare_port, "protected": prot_port, "floor": floor_port,
                 "minimal": min_port}
        masters = {"bare": bare_proc.pid, "protected": prot.pid, "floor": floor_proc.pid,
                   "minimal": min_proc.pid}
        for r in range(rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                counts = load(ports[name], masters[name], slices[r])
                print(f"  round {r + 1}/{rounds} {name}: {counts.ok / per_round:.0f} req/s",
                      file=sys.stderr, flush=True)
                results[name].add(counts)
        worker_rss = workers_rss_mib(prot.pid)

    bare, protected, floor = results["bare"], results["protected"], results["floor"]
    bare_rps = bare.ok / bare.seconds
    prot_rps = protected.ok / protected.seconds
    floor_rps = floor.ok / floor.seconds
    minimal = results["minimal"]
    min_rps = minimal.ok / minimal.seconds
    generator = (f"wrk ({wrk}), {args.procs} threads, {args.procs * args.threads} connections"
                 if wrk else f"Python: {args.procs} processes x {args.threads} threads, "
                 "keep-alive http.client connections")
    print("## Hello world under gunicorn, with and without verification\n")
    print(f"gunicorn {args.workers} workers ({args.worker_class}) on 127.0.0.1; "
          f"{args.alg} tokens with {args.groups} groups ({len(tokens[0])} chars), a fresh "
          f"one on every request; keys: "
          f"{'static JWKS file' if args.static_keys else 'JWKS served over HTTP'}; "
          f"base64url: {base64url}; "
          f"load generator: {generator}; {args.duration:g} s per app in {rounds} rotating "
          "rounds.\n")
    print_versions(info)
    print()
    print("| app | requests | req/s | workers' CPU µs per request | non-200 | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    cpu_per_request = {}
    for name, counts in results.items():
        cpu_per_request[name] = counts.server_cpu / max(1, counts.ok) * 1e6
        print(f"| {name} | {counts.ok} | {counts.ok / counts.seconds:.0f} | "
              f"{cpu_per_request[name]:.0f} | {counts.other_status} | {counts.errors} |")
    print()
    print(f"ratio protected / bare: {prot_rps / bare_rps:.2f} (goal >= 0.70)")
    print(f"ratio floor / bare: {floor_rps / bare_rps:.2f} (the most any verifier could "
          "reach here)")
    print(f"ratio protected / floor: {prot_rps / floor_rps:.2f}")
    print(f"ratio minimal / floor: {min_rps / floor_rps:.2f} (the floor plus the least claim "
          "checking any verifier must do)")
    print(f"ratio protected / minimal: {prot_rps / min_rps:.2f}")
    cpu = cpu_per_request
    print(f"workers' CPU per request above bare: protected {cpu['protected'] - cpu['bare']:.0f} "
          f"µs, minimal {cpu['minimal'] - cpu['bare']:.0f} µs, "
          f"floor {cpu['floor'] - cpu['bare']:.0f} µs (CPU ratio bare / protected "
          f"{cpu['bare'] / cpu['protected']:.2f}, bare / floor {cpu['bare'] / cpu['floor']:.2f})")
    if not args.static_keys:
        print(f"JWKS fetches by the protected and floor workers during warm-up: {keys_fetched}; "
              f"after the run: {fake.jwks_requests}")
    if worker_rss:
        print("protected workers' RSS after the run: "
              + ", ".join(f"{mib:.1f} MiB" for mib in worker_rss))
    if protected.wrapped:
        # Only the protected server has a token cache; the others do the same work for a
        # reused token as for a new one.
        print("note: the protected server's token pool ran out and was reused (raise "
              "--tokens); reused tokens may have been answered from a worker's token cache")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"versions": info, "args": vars(args), "generator": generator,
                       "bare_rps": bare_rps, "protected_rps": prot_rps,
                       "floor_rps": floor_rps, "minimal_rps": min_rps,
                       "ratio": prot_rps / bare_rps,
                       "floor_ratio": floor_rps / bare_rps,
                       "workers_cpu_us_per_request": cpu_per_request,
                       "results": {k: vars(v) for k, v in results.items()},
                       "protected_worker_rss_mib": worker_rss}, f, indent=2)
        print(f"(results written to {args.json})")
    return 0 if not any(counts.other_status for counts in results.values()) else 1


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float,
                        help="seconds of load per app, split across the rounds (default 10)")
    parser.add_argument("--rounds", type=int, help="rotating rounds per app (default 3)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    parser.add_argument("--threads", type=int, default=4,
                        help="connections (threads) per load-generator process")
    parser.add_argument("--tokens", type=int, help="pre-minted token pool (default 40000)")
    parser.add_argument("--alg", default="ES256", choices=("ES256", "RS256"))
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--speedups", action="store_true",
                        help="let the verifier use pybase64 (the [speedups] extra); "
                        "default: the standard library's decoder, as installed by default")
    parser.add_argument("--static-keys", action="store_true",
                        help="static JWKS file instead of a JWKS served over HTTP")
    parser.add_argument("--loadgen", choices=("auto", "python", "wrk"), default="auto")
    parser.add_argument("--quick", action="store_true",
                        help="2 s per app, 1 round, 10000 tokens (unless given)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    defaults = (2.0, 1, 10_000) if args.quick else (10.0, 3, 60_000)
    for name, default in zip(("duration", "rounds", "tokens"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds and --duration must be positive")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
