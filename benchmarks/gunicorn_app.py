"""The hello-world WSGI app that bench_gunicorn.py serves, bare and behind the middleware.

``gunicorn gunicorn_app:hello`` serves it bare; ``gunicorn 'gunicorn_app:protected()'``
builds the protected app in each worker (as a real deployment would, so each worker has
its own verifier, key cache and token cache), with settings from the environment:

* ``POMERIUM_AUDIENCE``: the route host (default ``app.example.com``);
* ``POMERIUM_JWKS_URL``: where to fetch keys, or
* ``POMERIUM_BENCH_JWKS_FILE``: a JWKS document on disk, used as static keys instead;
* ``POMERIUM_BENCH_TOKEN_CACHE``: the verifier's ``token_cache_size`` (default: its own);
* ``POMERIUM_BENCH_SPEEDUPS``: ``on`` to let the verifier decode base64url with pybase64
  (the ``[speedups]`` extra) when it is installed; otherwise the standard library's
  decoder, as in the default install, even where pybase64 happens to be installed;
* ``POMERIUM_BENCH_GC``: ``off`` or ``freeze`` to run every worker with garbage collection
  disabled or with the start-up heap frozen (``gc.freeze()``), to measure what collection
  costs (the library itself never changes GC settings);
* ``POMERIUM_BENCH_TIMINGS``: a directory; each worker of ``protected()``, ``floor()``
  and ``minimal()`` then times every call of the app (wall clock, inside the server) and
  appends the median, first quartile and mean of each 5,000 calls to ``app-<pid>.txt``
  there. The app call is where they differ, so this isolates their difference from the
  server's own work.
"""

from __future__ import annotations

import gc
import os
import time
import typing as t

from pomerium_wsgi import PomeriumMiddleware, Verifier

BODY = b"Hello, world!\n"
TIMED_BATCH = 5000

if os.environ.get("POMERIUM_BENCH_GC") == "off":
    gc.disable()
elif os.environ.get("POMERIUM_BENCH_GC") == "freeze":
    gc.freeze()


def hello(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
    """The cheapest reasonable WSGI app, so the middleware's cost stands out."""
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]


def protected() -> t.Callable[..., t.Any]:
    """The same app behind PomeriumMiddleware (a gunicorn app factory)."""
    if os.environ.get("POMERIUM_BENCH_SPEEDUPS") != "on":
        from pomerium_wsgi import _jose

        _jose.fast_decoder = None  # type: ignore[attr-defined,unused-ignore]
    audience = os.environ.get("POMERIUM_AUDIENCE", "app.example.com")
    jwks_file = os.environ.get("POMERIUM_BENCH_JWKS_FILE")
    options: dict[str, t.Any] = {}
    if os.environ.get("POMERIUM_BENCH_TOKEN_CACHE"):
        options["token_cache_size"] = int(os.environ["POMERIUM_BENCH_TOKEN_CACHE"])
    if jwks_file:
        with open(jwks_file, encoding="utf-8") as f:
            verifier = Verifier(audience, jwks=f.read(), **options)
    else:
        verifier = Verifier(audience, jwks_url=os.environ.get("POMERIUM_JWKS_URL"), **options)
    return timed(PomeriumMiddleware(hello, verifier))


def _signature_check() -> t.Callable[[str, int], bool]:
    """``check(token, last_dot)``: the token's signature checked with one ``cryptography``
    call on a key loaded at start-up, and nothing else (shared by floor() and minimal())."""
    import base64
    import json
    import urllib.request

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from pomerium_wsgi.keys import parse_jwks

    jwks_file = os.environ.get("POMERIUM_BENCH_JWKS_FILE")
    if jwks_file:
        with open(jwks_file, encoding="utf-8") as f:
            document = json.load(f)
    else:
        with urllib.request.urlopen(os.environ["POMERIUM_JWKS_URL"], timeout=10) as response:
            document = json.load(response)
    (key,) = parse_jwks(document).values()
    public: t.Any = key.jwk.public_key
    es256 = key.algorithm == "ES256"
    ecdsa, pkcs1, sha256 = ec.ECDSA(hashes.SHA256()), padding.PKCS1v15(), hashes.SHA256()

    def check(token: str, last: int) -> bool:
        try:
            signature = base64.urlsafe_b64decode(token[last + 1:] + "==")
            if es256:
                der = encode_dss_signature(int.from_bytes(signature[:32]),
                                           int.from_bytes(signature[32:]))
                public.verify(der, token[:last].encode("ascii"), ecdsa)
            else:
                public.verify(signature, token[:last].encode("ascii"), pkcs1, sha256)
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


def _refuse(start_response: t.Callable[..., t.Any]) -> list[bytes]:
    start_response("401 Unauthorized", [("Content-Length", "0")])
    return [b""]


def floor() -> t.Callable[..., list[bytes]]:
    """The same app behind the signature check alone.

    No header parsing, no key selection, no claims, no environ or signals: split off the
    signature, decode it, convert ES256's ``r || s`` to DER, one ``cryptography`` verify
    with a key loaded at start-up. Its throughput is the ceiling a Python verifier can
    reach on this machine, however little it does around OpenSSL; but a verifier must
    also check the claims, which :func:`minimal` adds.
    """
    check = _signature_check()

    def app(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
        token = environ.get("HTTP_X_POMERIUM_JWT_ASSERTION", "")
        if not check(token, token.rfind(".")):
            return _refuse(start_response)
        return hello(environ, start_response)

    return timed(app)


def minimal() -> t.Callable[..., list[bytes]]:
    """The floor plus the least claim checking a verifier cannot skip, written plainly.

    After the signature: the payload decoded with ``base64.urlsafe_b64decode`` and parsed
    with ``json.loads`` (no strictness), then audience, issuer and the two times compared,
    and the claims put in the environ. No header, no key selection, no type checks, no
    identity object, no signals: a lower bound for any verifier that reads the claims in
    Python, so protected / minimal shows what this library's care costs beyond it.
    """
    import base64
    import json

    check = _signature_check()
    audience = os.environ.get("POMERIUM_AUDIENCE", "app.example.com")
    clock = time.time

    def app(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
        token = environ.get("HTTP_X_POMERIUM_JWT_ASSERTION", "")
        last = token.rfind(".")
        if not check(token, last):
            return _refuse(start_response)
        try:
            claims = json.loads(base64.urlsafe_b64decode(
                token[token.find(".") + 1:last] + "=="))
            now = clock()
            if (claims["aud"] != audience or claims["iss"] != audience
                    or not claims["iat"] - 30 <= now <= claims["exp"] + 30):
                return _refuse(start_response)
        except (ValueError, KeyError, TypeError):
            return _refuse(start_response)
        environ["pomerium.claims"] = claims
        return hello(environ, start_response)

    return timed(app)


def timed(app: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    """*app* itself, or with ``POMERIUM_BENCH_TIMINGS`` set, *app* with each call timed."""
    directory = os.environ.get("POMERIUM_BENCH_TIMINGS")
    if not directory:
        return app
    batch: list[int] = []
    clock = time.perf_counter_ns

    def timed_app(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> t.Any:
        started = clock()
        result = app(environ, start_response)
        batch.append(clock() - started)
        if len(batch) == TIMED_BATCH:
            batch.sort()
            with open(os.path.join(directory, f"app-{os.getpid()}.txt"), "a",
                      encoding="utf-8") as f:
                f.write(f"median {batch[TIMED_BATCH // 2] / 1000:.1f} µs, "
                        f"p25 {batch[TIMED_BATCH // 4] / 1000:.1f} µs, "
                        f"mean {sum(batch) / TIMED_BATCH / 1000:.1f} µs\n")
            batch.clear()
        return result

    return timed_app
