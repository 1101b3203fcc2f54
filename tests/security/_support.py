"""Tools shared by the security tests: raw token building, real loopback servers.

Everything here is real: keys come from ``cryptography``, tokens are signed for real, the
servers are sockets on 127.0.0.1. Nothing is mocked, so a test that passes here describes
what happens to a hostile request in production.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import typing as t
from wsgiref.util import setup_testing_defaults

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pomerium_wsgi import PomeriumMiddleware, Verifier

from ..helpers import JWKSServer

#: A fixed "now" so claim cases are exact (2027-01-15).
NOW = 1_800_000_000.0
AUDIENCE = "app.example.com"
#: Generous: the machine running the tests is shared and noisy. A hostile token that
#: takes anywhere near this long would be a denial-of-service bug.
TIME_BOUND = 2.0
#: P-256 group order.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: P-256 field prime.
P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF


def b64(data: bytes | str) -> str:
    """Canonical unpadded base64url."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


Part = bytes | str | t.Mapping[str, t.Any]


def compact(header: Part, payload: Part, signature: bytes = b"") -> str:
    """A compact JWS from raw parts (mappings are JSON-encoded; bytes are taken as is)."""
    def raw(part: Part) -> bytes:
        if isinstance(part, bytes):
            return part
        if isinstance(part, str):
            return part.encode("utf-8")
        return json.dumps(dict(part), separators=(",", ":")).encode("utf-8")

    return f"{b64(raw(header))}.{b64(raw(payload))}.{b64(signature)}"


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def sign_input(key: PrivateKey, signing_input: bytes) -> bytes:
    """ES256 (raw r||s, 32 bytes each) or RS256 (PKCS#1 v1.5) over *signing_input*."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def signed(key: PrivateKey, header: Part, payload: Part) -> str:
    """A compact JWS whose signature is genuinely made by *key* over the given parts."""
    unsigned = compact(header, payload).rsplit(".", 1)[0]
    return unsigned + "." + b64(sign_input(key, unsigned.encode("ascii")))


def ec_jwk(public: ec.EllipticCurvePublicKey, **extra: t.Any) -> dict[str, t.Any]:
    """A public EC JWK of *public* (any curve)."""
    numbers = public.public_numbers()
    size = (public.curve.key_size + 7) // 8
    crv = {256: "P-256", 384: "P-384", 521: "P-521"}[public.curve.key_size]
    return {"kty": "EC", "crv": crv, "x": b64(numbers.x.to_bytes(size, "big")),
            "y": b64(numbers.y.to_bytes(size, "big")), **extra}


def rsa_jwk(public: rsa.RSAPublicKey, **extra: t.Any) -> dict[str, t.Any]:
    """A public RSA JWK of *public*."""
    numbers = public.public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "n": b64(n), "e": b64(e), **extra}


class Response(t.NamedTuple):
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    reached_app: bool


def call_middleware(verifier: Verifier, header_value: str | None) -> Response:
    """Send one request through a real PomeriumMiddleware in front of a real WSGI app."""
    reached: list[bool] = []

    def app(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
        reached.append(True)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"secret page"]

    captured: dict[str, t.Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
                       ) -> t.Callable[[bytes], object]:
        captured["status"] = status
        captured["headers"] = headers
        return lambda data: None

    environ: dict[str, t.Any] = {}
    setup_testing_defaults(environ)
    environ["HTTP_ACCEPT"] = "application/json"
    if header_value is not None:
        environ["HTTP_X_POMERIUM_JWT_ASSERTION"] = header_value
    middleware = PomeriumMiddleware(app, verifier)
    body = b"".join(middleware(environ, start_response))
    return Response(captured["status"], captured["headers"], body, bool(reached))


def as_header_value(token: str | bytes) -> str:
    """How a WSGI server presents raw header bytes in the environ (PEP 3333: latin-1)."""
    return token.decode("latin-1") if isinstance(token, bytes) else token


def secrets_of(token: str | bytes) -> list[str]:
    """The token text and its signature segment: the parts that must never be echoed.

    Fragments shorter than 16 characters are left out: they are too short to mean
    anything and would match ordinary words in a message.
    """
    text = as_header_value(token)
    parts = [text, text.rsplit(".", 1)[-1]]
    return [p for p in parts if len(p) >= 16]


class CountingListener:
    """A real TCP listener on 127.0.0.1 that counts every connection it accepts.

    Used as the target of ``jku`` / ``x5u`` / ``jwk`` / ``x5c`` headers: the accept count
    must stay 0, proving the verifier never fetched anything a token pointed at.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="counting-listener", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/pomerium/jwks.json"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def __enter__(self) -> CountingListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


class DocumentServer(JWKSServer):
    """A real HTTP server on 127.0.0.1 serving whatever JWKS document a test sets.

    ``documents`` maps a path to the bytes served there; ``requests`` counts hits.
    """

    def __init__(self) -> None:
        super().__init__()
        self.documents: dict[str, bytes] = {}

    def answer(self, path: str, headers: t.Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        body = self.documents.get(path)
        if body is None:
            return 404, {}, b""
        return 200, {"Content-Type": "application/json", "Cache-Control": "max-age=60"}, body

    def publish(self, name: str, document: t.Any) -> str:
        """Serve *document* (JSON-encoded unless bytes) and return its URL."""
        path = f"/{name}/jwks.json"
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.documents[path] = body
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


def timed(fn: t.Callable[[], t.Any]) -> tuple[t.Any, BaseException | None, float]:
    """Run *fn*; return (result, exception, seconds) without letting it raise."""
    start = time.monotonic()
    try:
        result = fn()
    except BaseException as exc:  # the caller asserts on the exception's type
        return None, exc, time.monotonic() - start
    return result, None, time.monotonic() - start
