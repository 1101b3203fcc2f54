"""Instructions per verification, counted by valgrind: a measure that noise cannot move.

Timings on a shared machine move by 20-40% between runs; the number of instructions a
verification executes does not. This script runs each operation N times under
``valgrind --tool=callgrind`` (one process per operation, identical set-up, the signing
key read from one PEM file so even RSA runs the same set-up) and reports instructions per
operation above a process that does the same set-up and an empty loop:

* ``raw``: ``cryptography`` verify of the signing input with a DER signature built
  beforehand (the floor, as in bench_verify.py);
* ``verify``: ``Verifier.verify`` (default settings) on fresh tokens;
* ``cached``: the same with ``token_cache_size=256`` (fresh tokens: the cache's cost);
* ``middleware``: a whole ``PomeriumMiddleware`` call around a trivial app.

Instructions are not time (a cache miss costs no instructions), but for the Python work
around OpenSSL they are a steady proxy. Needs valgrind on the PATH.

Usage::

    python benchmarks/bench_instructions.py                  # ES256, 500 tokens each
    python benchmarks/bench_instructions.py --alg RS256 --n 300
    python benchmarks/bench_instructions.py --groups 200 --speedups   # with pybase64
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import typing as t

from _common import AUDIENCE, mint
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from pomerium_wsgi import PomeriumMiddleware, Verifier
from pomerium_wsgi.testing import FakePomerium, SigningKey

MODES = ("none", "raw", "verify", "cached", "middleware")


def child(mode: str, n: int, pem_file: str, speedups: bool, groups: int) -> None:
    """The measured process: the same set-up for every mode, then N operations."""
    from pomerium_wsgi import _jose

    if not speedups:  # the default install: the standard library's base64 decoder
        _jose.fast_decoder = None  # type: ignore[attr-defined,unused-ignore]
    with open(pem_file, "rb") as f:
        fake = FakePomerium(AUDIENCE, key=SigningKey.from_pem(f.read()))
    tokens = mint(fake, n + 1, groups)
    verifier = Verifier(AUDIENCE, jwks=fake.jwks)
    verifier.verify(tokens[n])  # warm: header memo, first-call paths
    cached = Verifier(AUDIENCE, jwks=fake.jwks, token_cache_size=256)
    cached.verify(tokens[n])
    key = next(iter(verifier.keys.keys.values()))  # type: ignore[attr-defined]
    raw: list[tuple[bytes, bytes]] = []
    for token in tokens:
        signing_input, _, signature_b64 = token.rpartition(".")
        signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
        if key.algorithm == "ES256":
            signature = encode_dss_signature(int.from_bytes(signature[:32]),
                                             int.from_bytes(signature[32:]))
        raw.append((signing_input.encode("ascii"), signature))
    public = key.jwk.public_key
    extra: tuple[t.Any, ...] = ((ec.ECDSA(hashes.SHA256()),) if key.algorithm == "ES256"
                                else (padding.PKCS1v15(), hashes.SHA256()))

    def hello(environ: t.Any, start_response: t.Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hi"]

    middleware = PomeriumMiddleware(hello, verifier)
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": AUDIENCE,
            "SERVER_PORT": "443", "wsgi.url_scheme": "https", "HTTP_HOST": AUDIENCE}
    environs = [dict(base, HTTP_X_POMERIUM_JWT_ASSERTION=token) for token in tokens]

    def start_response(status: str, headers: t.Any, exc_info: t.Any = None) -> None:
        return None

    if mode == "raw":
        for i in range(n):
            public.verify(raw[i][1], raw[i][0], *extra)
    elif mode == "verify":
        for i in range(n):
            verifier.verify(tokens[i])
    elif mode == "cached":
        for i in range(n):
            cached.verify(tokens[i])
    elif mode == "middleware":
        for i in range(n):
            middleware(environs[i], start_response)
    else:
        for _ in range(n):
            pass


def count(mode: str, n: int, pem_file: str, valgrind: str, options: list[str]) -> int:
    result = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         os.path.abspath(__file__), "--child", mode, "--n", str(n), "--pem", pem_file,
         *options],
        capture_output=True, text=True, timeout=3600, check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if result.returncode:
        raise RuntimeError(f"the {mode!r} process failed:\n{result.stderr[-3000:]}")
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise RuntimeError("no instruction count in valgrind's output:\n" + result.stderr)
    return int(match.group(1))


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alg", default="ES256", choices=("ES256", "RS256"))
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--modes", nargs="+", choices=MODES[1:], default=list(MODES[1:]),
                        help="operations to count (default: all)")
    parser.add_argument("--groups", type=int, default=5, help="groups per token (default 5)")
    parser.add_argument("--speedups", action="store_true",
                        help="decode base64url with pybase64 (the [speedups] extra)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--pem", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.n, args.pem, args.speedups, args.groups)
        return 0
    valgrind = shutil.which("valgrind")
    if not valgrind:
        print("valgrind is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        pem_file = os.path.join(tmp, "key.pem")
        with open(pem_file, "wb") as f:
            f.write(SigningKey(args.alg).private_pem())
        totals = {}
        for mode in ("none", "raw", *(m for m in args.modes if m != "raw")):
            options = ["--groups", str(args.groups)] + (["--speedups"] if args.speedups else [])
            totals[mode] = count(mode, args.n, pem_file, valgrind, options)
            print(f"  {mode}: {totals[mode]:,} instructions in all", file=sys.stderr, flush=True)
    per_op = {mode: (totals[mode] - totals["none"]) / args.n for mode in MODES[1:]
              if mode in totals}
    decoder = "pybase64 ([speedups])" if args.speedups else "standard library (default)"
    print(f"## Instructions per operation, {args.alg}, {args.n} fresh tokens with "
          f"{args.groups} groups, base64url: {decoder}\n")
    print("| operation | instructions | ratio to raw | above raw |")
    print("|---|---:|---:|---:|")
    for mode, value in per_op.items():
        print(f"| {mode} | {value:,.0f} | {value / per_op['raw']:.3f}x | "
              f"{value - per_op['raw']:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
