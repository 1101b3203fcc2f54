"""Per-request cost of verifying a Pomerium identity token, against raw OpenSSL and peers.

Pomerium mints a new token for every request, so the number that matters is the cost of
one *cold* verification: parse, select the key, check the signature, check the claims.
This script mints N fresh Pomerium-shaped tokens per case (ES256 and RS256, with 5 and
with 200 groups) and times, side by side in one process:

* the floor: ``cryptography`` verifying the same signing input and signature;
* ``Verifier.verify`` on fresh tokens (the default, i.e. no token cache; with a
  256-entry token cache; with the ``[speedups]`` decoder when pybase64 is installed), on
  one repeated token (cache on), and the whole ``PomeriumMiddleware`` call around a
  trivial WSGI app;
* with ``--baseline CHECKOUT``, another checkout's default Verifier and middleware on the
  same tokens in the same rounds (before / after a change, in one run);
* peers doing a full verification as a careful user would (algorithm pinned, key chosen
  by ``kid`` from a key set built once, ``iss`` / ``aud`` / ``exp`` checked): PyJWT,
  joserfc, authlib.jose, python-jose, jwcrypto.

Rows are interleaved round-robin in batches (every round runs one batch of every row, in
a shuffled order) so that noise from a shared machine hits every row alike; compare ratios
from one run, not absolute numbers across runs. Each operation is timed on its own with
``time.perf_counter_ns`` while the garbage collector is off; the cost of the timing loop
itself (measured as a row of no-ops in the same rounds) is subtracted.

Usage::

    python benchmarks/bench_verify.py            # full run (N=4000 tokens per case)
    python benchmarks/bench_verify.py --quick    # a fast smoke run
    python benchmarks/bench_verify.py --json out.json
    python benchmarks/bench_verify.py --memory   # RSS over 1,000,000 verifications
    python benchmarks/bench_verify.py --profile  # cProfile of Verifier.verify
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import gc
import importlib.util
import io
import json
import math
import os
import pstats
import random
import statistics
import sys
import time
import typing as t
import warnings
from dataclasses import dataclass, field

from _common import AUDIENCE, mint, print_versions, rss_kib, versions
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from pomerium_wsgi import PomeriumMiddleware, _jose
from pomerium_wsgi.testing import FakePomerium

#: The [speedups] decoder when installed; every other row runs the default (pure) path.
FAST_DECODER = getattr(_jose, "fast_decoder", None)
_jose.fast_decoder = None

ALGORITHMS = ("ES256", "RS256")
PEERS = ("PyJWT", "joserfc", "authlib.jose", "python-jose", "jwcrypto")
#: Rows also timed with cold CPU caches (besides the raw floor).
FRESH = "Verifier.verify fresh (default)"
FRESH_CACHED = "Verifier.verify fresh (token_cache_size=256)"
FRESH_SPEEDUPS = "Verifier.verify fresh ([speedups] pybase64)"
REPEATED = "Verifier.verify repeated token (token_cache_size=256)"
BASELINE_PREFIX = "baseline: "
COLD_ROWS = (FRESH, "PomeriumMiddleware call, fresh token", "joserfc", "python-jose")
COLD_SUFFIX = " [cold]"
GROUP_COUNTS = (5, 200)
#: The issuer Pomerium puts in tokens for AUDIENCE (``jwt_issuer_format: hostOnly``).
ISSUER = AUDIENCE

Op = t.Callable[[int], object]


def _nothing(start: int, stop: int) -> None:
    return None


class Feed:
    """The token strings one row reads, copied afresh for each round.

    A WSGI server builds a new ``str`` for every request's header, and a new ``str`` has
    no cached hash. Rows sharing one ``str`` object would let whichever row hashes a
    10 KB token first pay for all the others, so every row gets its own copies, made
    before each round outside the timed region and dropped after it.
    """

    def __init__(self, originals: list[str]) -> None:
        self.originals = originals
        #: What the row's operation reads: ``current[i]`` is the token for index i.
        self.current = list(originals)

    def prepare(self, start: int, stop: int) -> None:
        originals, current = self.originals, self.current
        for i in range(start, stop):
            token = originals[i]
            current[i] = token[:-1] + token[-1]  # equal, but a new object

    def release(self, start: int, stop: int) -> None:
        self.current[start:stop] = self.originals[start:stop]


@dataclass
class Row:
    """One timed row: an operation taking the index of the token to use."""

    name: str
    alg: str
    groups: int
    op: Op
    #: Called with the round's index range before it is timed, and after.
    prepare: t.Callable[[int, int], None] = _nothing
    release: t.Callable[[int, int], None] = _nothing
    samples: list[int] = field(default_factory=list)
    #: Sweep the CPU's L1/L2 caches before each (untimed) call, as a server's network
    #: stack and other processes do between two requests.
    cold: bool = False

    @property
    def key(self) -> tuple[str, int, bool]:
        return (self.alg, self.groups, self.cold)


@dataclass
class Case:
    """The tokens of one (algorithm, group count) case and what they were signed with."""

    alg: str
    groups: int
    fake: FakePomerium
    tokens: list[str]
    warmup: str  # one more token, used only to warm every row up and check it works


def b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- rows -----------------------------------------------------------------------------------


def raw_rows(case: Case) -> list[Row]:
    """The floor: cryptography verifying exactly what the token's signature covers."""
    private = serialization.load_pem_private_key(case.fake.signing_key.private_pem(), None)
    public: t.Any = private.public_key()
    all_tokens = [*case.tokens, case.warmup]
    inputs = [tok[: tok.rfind(".")].encode("ascii") for tok in all_tokens]
    sigs = [b64url(tok[tok.rfind(".") + 1 :]) for tok in all_tokens]
    warm = len(case.tokens)  # the warm-up token's index in these lists
    verify = public.verify
    if case.alg == "ES256":
        ecdsa = ec.ECDSA(hashes.SHA256())
        ders = [encode_dss_signature(int.from_bytes(s[:32]), int.from_bytes(s[32:]))
                for s in sigs]

        def raw_der(i: int) -> object:
            return verify(ders[i], inputs[i], ecdsa)

        def raw_convert(i: int) -> object:
            s = sigs[i]
            der = encode_dss_signature(int.from_bytes(s[:32]), int.from_bytes(s[32:]))
            return verify(der, inputs[i], ecdsa)

        rows = [Row("raw-crypto (DER prebuilt)", case.alg, case.groups, raw_der),
                Row("raw-crypto + r||s->DER", case.alg, case.groups, raw_convert)]
    else:
        pkcs1 = padding.PKCS1v15()
        sha256 = hashes.SHA256()

        def raw_rsa(i: int) -> object:
            return verify(sigs[i], inputs[i], pkcs1, sha256)

        rows = [Row("raw-crypto (PKCS1v15)", case.alg, case.groups, raw_rsa)]
    # The rows index the pool; the warm-up uses the extra entry at the end.
    for row in rows:
        row.op(warm)
    return rows


def hello(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
    """The trivial WSGI app the middleware wraps."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]


def start_response(status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
                   ) -> t.Callable[[bytes], object]:
    """A server's start_response, reduced to refusing anything but success."""
    if status[0] != "2":
        raise RuntimeError(f"middleware answered {status}")
    return lambda data: None


#: What a WSGI server hands over for a typical browser request behind Pomerium.
WSGI_TEMPLATE: dict[str, t.Any] = {
    "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "",
    "SERVER_NAME": AUDIENCE, "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "10.0.0.2", "REMOTE_PORT": "51234",
    "wsgi.version": (1, 0), "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(b""),
    "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
    "wsgi.run_once": False, "HTTP_HOST": AUDIENCE,
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
    "HTTP_ACCEPT": "text/html,application/xhtml+xml", "HTTP_ACCEPT_ENCODING": "gzip",
    "HTTP_X_FORWARDED_FOR": "192.0.2.10", "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_REQUEST_ID": "6b1f2a", "HTTP_X_ENVOY_EXPECTED_RQ_TIMEOUT_MS": "30000",
}


def pomerium_rows(case: Case) -> list[Row]:
    """This library: Verifier.verify (fresh and repeated tokens) and the middleware."""
    tokens = case.tokens
    pool = [*tokens, case.warmup]  # index len(tokens) is the warm-up token
    uncached = case.fake.verifier()  # the default: no token cache
    cached = case.fake.verifier(token_cache_size=256)
    fast = case.fake.verifier()
    repeated = case.fake.verifier(token_cache_size=256)
    mw_verifier = case.fake.verifier()
    mw_repeated_verifier = case.fake.verifier(token_cache_size=256)

    middleware = PomeriumMiddleware(hello, mw_verifier)
    # Around a token cache hit, the middleware's own cost stands out of the noise.
    mw_repeated = PomeriumMiddleware(hello, mw_repeated_verifier)
    template = WSGI_TEMPLATE
    # One environ per call, built before each round (the middleware writes to it), with
    # the token as a new str object as a server would build it.
    mw_feed = Feed(pool)
    environs: list[dict[str, t.Any] | None] = [None] * len(pool)

    def prepare_environs(start: int, stop: int) -> None:
        mw_feed.prepare(start, stop)
        for i in range(start, stop):
            environs[i] = {**template, "HTTP_X_POMERIUM_JWT_ASSERTION": mw_feed.current[i]}

    def release_environs(start: int, stop: int) -> None:
        mw_feed.release(start, stop)
        environs[start:stop] = [None] * (stop - start)

    mw_repeated_feed = Feed([tokens[0]] * len(pool))
    repeated_environs: list[dict[str, t.Any] | None] = [None] * len(pool)

    def prepare_repeated_environs(start: int, stop: int) -> None:
        mw_repeated_feed.prepare(start, stop)
        for i in range(start, stop):
            repeated_environs[i] = {**template,
                                    "HTTP_X_POMERIUM_JWT_ASSERTION": mw_repeated_feed.current[i]}

    def release_repeated_environs(start: int, stop: int) -> None:
        mw_repeated_feed.release(start, stop)
        repeated_environs[start:stop] = [None] * (stop - start)

    uncached_feed, cached_feed, fast_feed = Feed(pool), Feed(pool), Feed(pool)
    uncached_tokens, cached_tokens = uncached_feed.current, cached_feed.current
    fast_tokens = fast_feed.current
    # The same token every time, but each time a new str (its hash not yet computed).
    repeated_feed = Feed([tokens[0]] * len(pool))
    repeated_tokens = repeated_feed.current

    def verify_uncached(i: int) -> object:
        return uncached.verify(uncached_tokens[i])

    def verify_cached(i: int) -> object:
        return cached.verify(cached_tokens[i])

    def verify_fast(i: int) -> object:
        # The [speedups] decoder for this call only (two module-attribute stores, <0.1 µs).
        _jose.fast_decoder = FAST_DECODER
        try:
            return fast.verify(fast_tokens[i])
        finally:
            _jose.fast_decoder = None

    def verify_repeated(i: int) -> object:
        return repeated.verify(repeated_tokens[i])

    def call_middleware(i: int) -> object:
        body = middleware(environs[i], start_response)
        for _chunk in body:
            pass
        return body

    def call_middleware_repeated(i: int) -> object:
        body = mw_repeated(repeated_environs[i], start_response)
        for _chunk in body:
            pass
        return body

    # Warm up (and prove each row works) on a token outside the pool.
    warm = len(tokens)
    for v in (uncached, cached):
        assert v.verify(case.warmup).email.startswith("user")
    if FAST_DECODER is not None:
        fast_feed.prepare(warm, warm + 1)
        assert t.cast(t.Any, verify_fast(warm)).email.startswith("user")
        fast_feed.release(warm, warm + 1)
    assert repeated.verify(tokens[0]).email.startswith("user")
    prepare_environs(warm, warm + 1)
    call_middleware(warm)
    release_environs(warm, warm + 1)
    prepare_repeated_environs(warm, warm + 1)
    call_middleware_repeated(warm)
    release_repeated_environs(warm, warm + 1)
    g = case.groups
    speedups = [] if FAST_DECODER is None else [
        Row(FRESH_SPEEDUPS, case.alg, g, verify_fast, fast_feed.prepare, fast_feed.release)]
    return [
        Row(FRESH, case.alg, g, verify_uncached, uncached_feed.prepare, uncached_feed.release),
        Row(FRESH_CACHED, case.alg, g, verify_cached, cached_feed.prepare,
            cached_feed.release),
        *speedups,
        Row(REPEATED, case.alg, g, verify_repeated,
            repeated_feed.prepare, repeated_feed.release),
        Row("PomeriumMiddleware call, fresh token", case.alg, g, call_middleware,
            prepare_environs, release_environs),
        Row("PomeriumMiddleware call, repeated token", case.alg, g, call_middleware_repeated,
            prepare_repeated_environs, release_repeated_environs),
    ]


def load_baseline(checkout: str) -> t.Any:
    """Another checkout's ``pomerium_wsgi`` imported as ``pomerium_wsgi_baseline``, so that
    the code before a change runs in the same process and rounds as the code after it."""
    package = os.path.join(os.path.abspath(checkout), "pomerium_wsgi")
    spec = importlib.util.spec_from_file_location(
        "pomerium_wsgi_baseline", os.path.join(package, "__init__.py"),
        submodule_search_locations=[package])
    if spec is None or spec.loader is None:
        raise SystemExit(f"no pomerium_wsgi package in {checkout}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def baseline_rows(case: Case, baseline: t.Any) -> list[Row]:
    """The baseline checkout's default Verifier and middleware on the same fresh tokens."""
    pool = [*case.tokens, case.warmup]
    verifier = baseline.Verifier(AUDIENCE, jwks=case.fake.jwks)
    middleware = baseline.PomeriumMiddleware(hello, baseline.Verifier(AUDIENCE,
                                                                      jwks=case.fake.jwks))
    feed, mw_feed = Feed(pool), Feed(pool)
    tokens = feed.current
    environs: list[dict[str, t.Any] | None] = [None] * len(pool)

    def prepare_environs(start: int, stop: int) -> None:
        mw_feed.prepare(start, stop)
        for i in range(start, stop):
            environs[i] = {**WSGI_TEMPLATE, "HTTP_X_POMERIUM_JWT_ASSERTION": mw_feed.current[i]}

    def release_environs(start: int, stop: int) -> None:
        mw_feed.release(start, stop)
        environs[start:stop] = [None] * (stop - start)

    def verify(i: int) -> object:
        return verifier.verify(tokens[i])

    def call_middleware(i: int) -> object:
        body = middleware(environs[i], start_response)
        for _chunk in body:
            pass
        return body

    assert verifier.verify(case.warmup).email.startswith("user")
    return [
        Row(BASELINE_PREFIX + FRESH, case.alg, case.groups, verify, feed.prepare,
            feed.release),
        Row(BASELINE_PREFIX + "PomeriumMiddleware call, fresh token", case.alg, case.groups,
            call_middleware, prepare_environs, release_environs),
    ]


def peer_rows(case: Case) -> list[Row]:
    """Peers doing what a careful user would: the key by kid from a key set built once,
    the algorithm pinned to the key's, and iss / aud / exp required and checked."""
    tokens = case.tokens
    jwks = case.fake.jwks
    rows: list[Row] = []

    def add(name: str, op: t.Callable[[list[str], int], object]) -> None:
        """Add a row; *op* reads its token from a feed of its own (see Feed)."""
        feed = Feed([*tokens, case.warmup])
        current = feed.current

        def row_op(i: int) -> object:
            return op(current, i)

        claims = row_op(-1)  # the warm-up token: it must verify and give back the claims
        email = claims["email"] if isinstance(claims, dict) else None
        if not (isinstance(email, str) and email.startswith("user")):
            raise RuntimeError(f"{name} did not return the token's claims")
        rows.append(Row(name, case.alg, case.groups, row_op, feed.prepare, feed.release))

    import jwt as pyjwt

    pyjwt_keys = {k.key_id: (k.key, k.algorithm_name) for k in
                  pyjwt.PyJWKSet.from_dict(jwks).keys}
    pyjwt_options = {"require": ["exp", "iat", "iss", "aud", "sub"]}

    def pyjwt_verify(pool: list[str], i: int) -> object:
        token = pool[i]
        key, alg = pyjwt_keys[pyjwt.get_unverified_header(token)["kid"]]
        return pyjwt.decode(token, key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER,
                            options=pyjwt_options)

    add("PyJWT", pyjwt_verify)

    from joserfc import jwt as joserfc_jwt
    from joserfc.jwk import KeySet

    joserfc_keys = KeySet.import_key_set(jwks)
    joserfc_algs = [case.alg]
    joserfc_claims = joserfc_jwt.JWTClaimsRegistry(
        leeway=30,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        sub={"essential": True},
    )

    def joserfc_verify(pool: list[str], i: int) -> object:
        token = joserfc_jwt.decode(pool[i], joserfc_keys, algorithms=joserfc_algs)
        joserfc_claims.validate(token.claims)
        return token.claims

    add("joserfc", joserfc_verify)

    # authlib.jose is deprecated in favour of joserfc and says so on import; it is measured
    # because many applications still use it. authlib.deprecate installs an "always"
    # filter for its warning class when first imported, so import it before ours.
    import authlib.deprecate

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=authlib.deprecate.AuthlibDeprecationWarning,
                                message=r"authlib\.jose module is deprecated")
        from authlib.jose import JsonWebKey, JsonWebToken

    authlib_jwt = JsonWebToken([case.alg])
    authlib_keys = JsonWebKey.import_key_set(jwks)
    authlib_options = {
        "iss": {"essential": True, "value": ISSUER},
        "aud": {"essential": True, "value": AUDIENCE},
        "exp": {"essential": True},
        "sub": {"essential": True},
    }

    def authlib_verify(pool: list[str], i: int) -> object:
        claims = authlib_jwt.decode(pool[i], authlib_keys, claims_options=authlib_options)
        claims.validate(leeway=30)
        return claims

    add("authlib.jose", authlib_verify)

    from jose import jwk as jose_jwk
    from jose import jwt as jose_jwt

    jose_keys = {k["kid"]: (jose_jwk.construct(k, k["alg"]), k["alg"]) for k in jwks["keys"]}
    jose_options = {"require_exp": True, "require_iat": True, "require_iss": True,
                    "require_aud": True, "require_sub": True, "leeway": 30}

    def jose_verify(pool: list[str], i: int) -> object:
        token = pool[i]
        key, alg = jose_keys[jose_jwt.get_unverified_header(token)["kid"]]
        return jose_jwt.decode(token, key, algorithms=[alg], audience=AUDIENCE,
                               issuer=ISSUER, options=jose_options)

    add("python-jose", jose_verify)

    from jwcrypto import jwk as jwcrypto_jwk
    from jwcrypto import jwt as jwcrypto_jwt

    jwcrypto_keys = jwcrypto_jwk.JWKSet.from_json(json.dumps(jwks))
    jwcrypto_algs = [case.alg]
    jwcrypto_checks = {"iss": ISSUER, "aud": AUDIENCE, "exp": None, "sub": None}

    def jwcrypto_verify(pool: list[str], i: int) -> object:
        token = jwcrypto_jwt.JWT(jwt=pool[i], key=jwcrypto_keys, algs=jwcrypto_algs,
                                 check_claims=jwcrypto_checks)
        return json.loads(token.claims)

    add("jwcrypto", jwcrypto_verify)
    return rows


# -- timing ---------------------------------------------------------------------------------


def time_batch(op: Op, start: int, stop: int, out: list[int]) -> None:
    """Time each call of *op* on token indices start..stop-1, appending nanoseconds."""
    ns = time.perf_counter_ns
    append = out.append
    for i in range(start, stop):
        t0 = ns()
        op(i)
        append(ns() - t0)


#: Bytes written before each call of a cold row: twice this machine class's L2 per core.
COLD_SWEEP_BYTES = 4 * 1024 * 1024
_CACHE_LINE = 64


def time_batch_cold(op: Op, start: int, stop: int, out: list[int]) -> None:
    """Like :func:`time_batch`, but each call starts with L1/L2 swept (not timed)."""
    ns = time.perf_counter_ns
    append = out.append
    scratch = bytearray(COLD_SWEEP_BYTES)
    fill = b"\x01" * (COLD_SWEEP_BYTES // _CACHE_LINE)
    for i in range(start, stop):
        scratch[::_CACHE_LINE] = fill  # one write per cache line
        t0 = ns()
        op(i)
        append(ns() - t0)


def run_rounds(rows: list[Row], n: int, batch: int, *, seed: int = 9
               ) -> tuple[list[int], list[int]]:
    """Round-robin: each round runs one batch of every row, rows in a shuffled order.

    Returns the samples of no-op rows (hot and cold) timed in the same rounds: the cost
    of the timing loop itself, subtracted from every row afterwards.
    """
    def noop(i: int) -> None:
        return None

    overhead: list[int] = []
    cold_overhead: list[int] = []
    everything = [*rows, Row("(timer)", "", 0, noop, samples=overhead)]
    if any(row.cold for row in rows):
        everything.append(Row("(timer, cold)", "", 0, noop, samples=cold_overhead, cold=True))
    shuffle = random.Random(seed).shuffle
    rounds = math.ceil(n / batch)
    started = time.perf_counter()
    for number in range(rounds):
        start, stop = number * batch, min(n, (number + 1) * batch)
        order = everything[:]
        shuffle(order)
        for row in order:
            row.prepare(start, stop)
        gc.collect()
        gc.disable()
        try:
            for row in order:
                try:
                    timer = time_batch_cold if row.cold else time_batch
                    timer(row.op, start, stop, row.samples)
                except Exception as exc:
                    raise RuntimeError(f"row {row.name!r} failed: {exc!r}") from exc
        finally:
            gc.enable()
        for row in order:
            row.release(start, stop)
        if number == 0 or (number + 1) % max(1, rounds // 5) == 0:
            print(f"  round {number + 1}/{rounds} done, {time.perf_counter() - started:.1f} s",
                  file=sys.stderr, flush=True)
    return overhead, cold_overhead or overhead


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(rows: list[Row], overhead_ns: float, cold_overhead_ns: float
              ) -> list[dict[str, t.Any]]:
    """Median / p99 in µs per row (timing-loop cost subtracted) and ratio to the floor
    (a cold row's floor is the cold raw row of its case)."""
    results = []
    base: dict[tuple[str, int, bool], float] = {}
    for row in rows:
        loop = cold_overhead_ns if row.cold else overhead_ns
        values = sorted(max(0.0, s - loop) / 1000 for s in row.samples)
        median = statistics.median(values)
        if row.name.startswith("raw-crypto") and "->DER" not in row.name:
            base[row.key] = median
        results.append({"row": row.name, "alg": row.alg, "groups": row.groups,
                        "cold": row.cold, "n": len(values), "median_us": median,
                        "p99_us": percentile(values, 99)})
    for result in results:
        result["ratio"] = result["median_us"] / base[
            (result["alg"], result["groups"], result["cold"])]
    return results


def render_table(results: list[dict[str, t.Any]]) -> str:
    lines = ["| row | alg | groups | median µs | p99 µs | ratio to raw |",
             "|---|---|---:|---:|---:|---:|"]
    for r in results:
        name = r["row"].replace("|", "\\|")  # "r||s" must not split the cell
        lines.append(f"| {name} | {r['alg']} | {r['groups']} | {r['median_us']:.1f} | "
                     f"{r['p99_us']:.1f} | {r['ratio']:.2f}x |")
    return "\n".join(lines)


def derived(results: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Per case: middleware overhead, repeated-token cost, fresh-token ratios."""
    by = {(r["row"], r["alg"], r["groups"]): r for r in results}
    out = []
    for alg in ALGORITHMS:
        for groups in GROUP_COUNTS:
            def med(name: str, a: str = alg, g: int = groups) -> float:
                return float(by[(name, a, g)]["median_us"])

            def ratio(name: str, a: str = alg, g: int = groups) -> float:
                return float(by[(name, a, g)]["ratio"])

            if (REPEATED, alg, groups) not in by:
                continue
            out.append({
                "alg": alg, "groups": groups,
                "middleware_overhead_us": med("PomeriumMiddleware call, fresh token")
                - med(FRESH),
                "middleware_overhead_repeated_us": med("PomeriumMiddleware call, repeated token")
                - med(REPEATED),
                "repeated_us": med(REPEATED),
                "fresh_ratio_default": ratio(FRESH),
                "fresh_ratio_cached": ratio(FRESH_CACHED),
                "cache_cost_us": med(FRESH_CACHED) - med(FRESH),
                "fresh_ratio_speedups": (ratio(FRESH_SPEEDUPS)
                                         if (FRESH_SPEEDUPS, alg, groups) in by else None),
                "baseline_fresh_ratio": (ratio(BASELINE_PREFIX + FRESH)
                                         if (BASELINE_PREFIX + FRESH, alg, groups) in by
                                         else None),
                "cold_fresh_ratio_default": (
                    ratio(FRESH + COLD_SUFFIX)
                    if (FRESH + COLD_SUFFIX, alg, groups) in by else None),
                "best_peer": min(
                    (r for r in results if r["alg"] == alg and r["groups"] == groups
                     and r["row"] in PEERS),
                    key=lambda r: r["ratio"], default={"row": None})["row"],
            })
    return out


#: The issue's goals for the fresh-token ratio (default settings), by (alg, groups).
GOALS = {("ES256", 5): 1.25, ("RS256", 5): 1.8, ("ES256", 200): 1.6, ("RS256", 200): 2.8}


def render_derived(items: list[dict[str, t.Any]], results: list[dict[str, t.Any]]) -> str:
    by = {(r["row"], r["alg"], r["groups"]): r for r in results}

    def x(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}x"

    lines = ["| alg | groups | fresh ratio: default / baseline / [speedups] | goal | "
             "cache cost µs (256 entries, fresh token) | fresh ratio, cold | "
             "middleware overhead µs, fresh / repeated token (goal <= 3) | "
             "repeated token µs | best peer (ratio) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for d in items:
        goal = GOALS.get((d["alg"], d["groups"]))
        best = by.get((d["best_peer"], d["alg"], d["groups"]))
        peer = f"{d['best_peer']} ({best['ratio']:.2f}x)" if best else "-"
        lines.append(
            f"| {d['alg']} | {d['groups']} | {x(d['fresh_ratio_default'])} / "
            f"{x(d['baseline_fresh_ratio'])} / {x(d['fresh_ratio_speedups'])} | "
            f"{'-' if goal is None else f'<= {goal:.2f}x'} | {d['cache_cost_us']:.1f} | "
            f"{x(d['cold_fresh_ratio_default'])} | "
            f"{d['middleware_overhead_us']:.1f} / {d['middleware_overhead_repeated_us']:.1f} | "
            f"{d['repeated_us']:.2f} | {peer} |")
    return "\n".join(lines)


# -- the modes ------------------------------------------------------------------------------


def build_cases(n: int, groups: t.Sequence[int], algs: t.Sequence[str]) -> list[Case]:
    cases = []
    for alg in algs:
        fake = FakePomerium(AUDIENCE, alg)
        for g in groups:
            started = time.perf_counter()
            tokens = mint(fake, n + 1, g)
            print(f"minted {n + 1} {alg} tokens with {g} groups "
                  f"({len(tokens[0])} chars each) in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr, flush=True)
            cases.append(Case(alg, g, fake, tokens[:-1], tokens[-1]))
    return cases


def bench(args: argparse.Namespace) -> int:
    info = versions()
    cases = build_cases(args.n, args.groups, args.algorithms)
    baseline = load_baseline(args.baseline) if args.baseline else None
    rows: list[Row] = []
    for case in cases:
        rows += raw_rows(case) + pomerium_rows(case)
        if baseline is not None:
            rows += baseline_rows(case, baseline)
        if not args.no_peers:
            rows += peer_rows(case)
        if not args.no_cold:
            # The same operations, each starting with L1/L2 swept: built afresh so that
            # their verifiers and token caches are their own.
            cold = [r for r in raw_rows(case) if "->DER" not in r.name]
            cold += [r for r in pomerium_rows(case) if r.name in COLD_ROWS]
            if not args.no_peers:
                cold += [r for r in peer_rows(case) if r.name in COLD_ROWS]
            for row in cold:
                row.name += COLD_SUFFIX
                row.cold = True
            rows += cold
    print(f"timing {len(rows)} rows x {args.n} ops, batches of {args.batch}, interleaved",
          file=sys.stderr, flush=True)
    started = time.perf_counter()
    overhead, cold_overhead = run_rounds(rows, args.n, args.batch)
    elapsed = time.perf_counter() - started
    overhead_ns = statistics.median(overhead)
    cold_overhead_ns = statistics.median(cold_overhead)
    results = summarise(rows, overhead_ns, cold_overhead_ns)
    extra = derived(results)

    print("## Verification cost per operation\n")
    print(f"{args.n} fresh tokens per case, batches of {args.batch} ops per row, "
          f"{math.ceil(args.n / args.batch)} rounds; timing {elapsed:.0f} s; timing-loop "
          f"overhead {overhead_ns:.0f} ns per op ({cold_overhead_ns:.0f} ns cold), "
          "subtracted. Rows marked [cold] sweep "
          f"{COLD_SWEEP_BYTES // 1024 // 1024} MiB through the CPU caches before each call "
          "(untimed); their ratio is to the cold raw row.\n")
    print_versions(info)
    print()
    print(render_table(results))
    print()
    print("### Against the goals\n")
    print(render_derived(extra, results))
    print()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"versions": info, "n": args.n, "batch": args.batch,
                       "timer_overhead_ns": overhead_ns,
                       "cold_timer_overhead_ns": cold_overhead_ns, "elapsed_s": elapsed,
                       "rows": results, "summary": extra}, f, indent=2)
        print(f"(results written to {args.json})")
    return 0


def memory(args: argparse.Namespace) -> int:
    """RSS growth of one process over many verifications of fresh-ish tokens."""
    fake = FakePomerium(AUDIENCE, "ES256")
    started = time.perf_counter()
    pool = mint(fake, args.memory_pool, args.memory_groups)
    print(f"minted {len(pool)} ES256 tokens with {args.memory_groups} groups in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    # A token cache that fills and churns: the worst case for memory (the default has none).
    verifier = fake.verifier(token_cache_size=256)
    total = args.memory_ops
    gc.collect()
    start_rss = rss_kib()
    print("## Memory: RSS over many verifications\n")
    print(f"Verifier (token_cache_size={verifier.token_cache_size}), a pool of "
          f"{len(pool)} pre-minted ES256 tokens with {args.memory_groups} groups cycled "
          f"{total:,} times (every token is seen again only after "
          f"{len(pool) - 1} others, so the cache keeps evicting).\n")
    print("| verifications | RSS MiB | elapsed s |")
    print("|---:|---:|---:|")
    print(f"| 0 | {start_rss / 1024:.1f} | 0 |", flush=True)
    size = len(pool)
    step = max(1, total // 10)
    after_first_pass = None
    began = time.perf_counter()
    verify = verifier.verify
    for i in range(total):
        verify(pool[i % size])
        done = i + 1
        if done == size:
            after_first_pass = rss_kib()
        if done % step == 0 or done == total:
            print(f"| {done:,} | {rss_kib() / 1024:.1f} | {time.perf_counter() - began:.0f} |",
                  flush=True)
    gc.collect()
    end_rss = rss_kib()
    print()
    print(f"start RSS {start_rss / 1024:.1f} MiB, end RSS {end_rss / 1024:.1f} MiB: "
          f"growth {(end_rss - start_rss) / 1024:.1f} MiB over {total:,} verifications")
    if after_first_pass is not None:
        print(f"after the first pass over the pool (cache full): "
              f"{after_first_pass / 1024:.1f} MiB; growth since then "
              f"{(end_rss - after_first_pass) / 1024:.1f} MiB")
    return 0


def profile(args: argparse.Namespace) -> int:
    """cProfile of Verifier.verify (default verifier) on fresh ES256 tokens, then of the
    middleware call around a repeated token (the middleware's own cost)."""

    def show(title: str, profiler: cProfile.Profile) -> None:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(15)
        print(f"## cProfile: {title}, top 15 by tottime\n")
        print("```")
        print(stream.getvalue().strip())
        print("```\n")

    fake = FakePomerium(AUDIENCE, "ES256")
    for groups in args.groups:
        tokens = mint(fake, args.n + 1, groups)
        verifier = fake.verifier()
        verifier.verify(tokens[-1])  # warm: key lookup, header memo
        profiler = cProfile.Profile()
        verify = verifier.verify
        profiler.enable()
        for token in tokens[:-1]:
            verify(token)
        profiler.disable()
        show(f"Verifier.verify, {args.n} fresh ES256 tokens, {groups} groups", profiler)

    token = mint(fake, 1, args.groups[0])[0]
    middleware = PomeriumMiddleware(hello, fake.verifier(token_cache_size=256))
    environs = [{**WSGI_TEMPLATE, "HTTP_X_POMERIUM_JWT_ASSERTION": token[:-1] + token[-1]}
                for _ in range(args.n)]
    list(middleware(dict(environs[0]), start_response))  # warm the token cache
    profiler = cProfile.Profile()
    profiler.enable()
    for environ in environs:
        for _chunk in middleware(environ, start_response):
            pass
    profiler.disable()
    show(f"PomeriumMiddleware call, {args.n} calls with one repeated ES256 token "
         f"({args.groups[0]} groups)", profiler)
    return 0


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, help="fresh tokens per case (default 4000)")
    parser.add_argument("--batch", type=int, help="ops per row per round (default 200)")
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run (N=600, batches of 100, unless given)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--groups", type=int, nargs="+", default=list(GROUP_COUNTS),
                        help="group counts to test (default: 5 200)")
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS),
                        choices=ALGORITHMS)
    parser.add_argument("--no-peers", action="store_true", help="only this library and raw")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="also time another checkout's Verifier and middleware "
                             "(e.g. a git worktree of the previous release)")
    parser.add_argument("--no-cold", action="store_true",
                        help="skip the rows timed with cold CPU caches")
    parser.add_argument("--memory", action="store_true",
                        help="instead: RSS growth over --memory-ops verifications")
    parser.add_argument("--memory-ops", type=int, help="default 1,000,000 (--quick 100,000)")
    parser.add_argument("--memory-pool", type=int, help="default 20,000 (--quick 5,000)")
    parser.add_argument("--memory-groups", type=int, default=5)
    parser.add_argument("--profile", action="store_true",
                        help="instead: cProfile Verifier.verify on fresh ES256 tokens")
    args = parser.parse_args(argv)
    defaults = (600, 100, 100_000, 5_000) if args.quick else (4000, 200, 1_000_000, 20_000)
    for name, default in zip(("n", "batch", "memory_ops", "memory_pool"), defaults,
                             strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.n < 1 or args.batch < 1:
        parser.error("--n and --batch must be positive")
    if args.memory:
        return memory(args)
    if args.profile:
        return profile(args)
    return bench(args)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
