"""A fake Pomerium for tests and local development.

:class:`FakePomerium` holds real signing keys and mints real tokens with exactly
Pomerium's header (``alg``, ``kid`` = hex SHA-256 RFC 7638 thumbprint, ``typ: JWT``) and
claims (``iss, aud, jti, iat, exp, sub, user, email, groups, sid, name``), so what passes
here passes in production. ``serve()`` publishes the JWKS over real HTTP on 127.0.0.1,
with ``Cache-Control: max-age`` and an ``ETag`` like Pomerium's endpoint.

Installed with pomerium-wsgi, pytest gets a ``pomerium`` fixture (a fresh
:class:`FakePomerium` for ``app.example.com``) from the ``pytest_pomerium_wsgi`` plugin;
``pytest_plugins = ["pomerium_wsgi.testing"]`` in a conftest still works too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
import typing as t
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from .identity import Identity
from .keys import VerificationKey, pomerium_kid
from .verifier import Verifier, normalise_audience

JWKS_PATH = "/.well-known/pomerium/jwks.json"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

TOKEN_LIFETIME = 300


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        pass  # a client that hung up early is no reason to print a traceback


class SigningKey:
    """A private key with Pomerium's kid and its algorithm."""

    def __init__(self, algorithm: str = "ES256", key: ECKey | RSAKey | None = None) -> None:
        if algorithm not in ("ES256", "RS256"):
            raise ValueError("algorithm must be ES256 or RS256")
        if key is None:
            key = (
                ECKey.generate_key("P-256") if algorithm == "ES256"
                else RSAKey.generate_key(2048)
            )
        self.algorithm = algorithm
        self.key = key
        self.kid = pomerium_kid(key.as_dict(private=False))

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        """Load a private key PEM (EC P-256 -> ES256, RSA -> RS256)."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key: ECKey | RSAKey = ECKey.import_key(data)
            algorithm = "ES256"
        except Exception:
            key = RSAKey.import_key(data)
            algorithm = "RS256"
        if not key.is_private:
            raise ValueError("a private key is needed to sign")
        if isinstance(key, ECKey) and key.curve_name != "P-256":
            raise ValueError(f"an EC key must be P-256 for ES256, not {key.curve_name}")
        return cls(algorithm, key)

    def public_jwk(self) -> dict[str, t.Any]:
        """The public JWK as Pomerium publishes it."""
        public = dict(self.key.as_dict(private=False))
        for member in ("kid", "alg", "use", "key_ops"):
            public.pop(member, None)
        return {"use": "sig", **public, "kid": self.kid, "alg": self.algorithm}

    def private_pem(self) -> bytes:
        """The private key as PEM (PKCS#8)."""
        return bytes(self.key.as_pem(private=True))

    def sign(self, claims: t.Mapping[str, t.Any], header: t.Mapping[str, t.Any] | None = None
             ) -> str:
        """A compact JWS of *claims* with Pomerium's header (overridable)."""
        protected = {"alg": self.algorithm, "kid": self.kid, "typ": "JWT", **(header or {})}
        signing_input = (
            _b64(json.dumps(protected, separators=(",", ":")).encode("utf-8"))
            + "."
            + _b64(json.dumps(dict(claims), separators=(",", ":")).encode("utf-8"))
        )
        algorithm = JWSRegistry.algorithms[self.algorithm]
        signature = algorithm.sign(signing_input.encode("ascii"), self.key)
        return signing_input + "." + _b64(signature)

    def verification_key(self) -> VerificationKey:
        """The public half as the verifier holds it."""
        from .keys import parse_jwks

        return parse_jwks({"keys": [self.public_jwk()]})[self.kid]


class FakePomerium:
    """A stand-in for Pomerium: signing keys, Pomerium-shaped tokens, a JWKS server.

    :param audience: the route host the tokens are minted for.
    :param algorithm: ``"ES256"`` (Pomerium's default) or ``"RS256"``.
    :param issuer_format: ``"hostOnly"`` (``iss`` = host, the default) or ``"uri"``
        (``iss`` = ``https://host/``), like Pomerium's ``jwt_issuer_format``.
    :param clock: returns the current Unix time; tokens' ``iat`` come from it.
    :param key: an existing :class:`SigningKey` (e.g. loaded from a PEM file).
    """

    def __init__(
        self,
        audience: str = "app.example.com",
        algorithm: str = "ES256",
        *,
        issuer_format: str = "hostOnly",
        clock: t.Callable[[], float] = time.time,
        key: SigningKey | None = None,
    ) -> None:
        if issuer_format not in ("hostOnly", "uri"):
            raise ValueError("issuer_format must be 'hostOnly' or 'uri'")
        self.audience = normalise_audience(audience)
        self.algorithm = algorithm
        self.issuer_format = issuer_format
        self.clock = clock
        self.keys: list[SigningKey] = [key or SigningKey(algorithm)]
        self.max_age = 60
        #: Requests served by :meth:`serve`'s JWKS endpoint (200 and 304 answers).
        self.jwks_requests = 0
        self._lock = threading.Lock()

    # -- keys ------------------------------------------------------------------------

    @property
    def signing_key(self) -> SigningKey:
        """The key that signs new tokens (listed first in the JWKS)."""
        return self.keys[0]

    @property
    def jwks(self) -> dict[str, t.Any]:
        """The JWKS document, as Pomerium serves it."""
        return {"keys": [k.public_jwk() for k in self.keys]}

    def rotate(self, algorithm: str | None = None) -> SigningKey:
        """Start signing with a new key; the old ones stay published after it."""
        new = SigningKey(algorithm or self.algorithm)
        with self._lock:
            self.keys.insert(0, new)
        return new

    def retire(self, kid: str | None = None) -> None:
        """Stop publishing a key (default: the oldest one), as after a rotation ends."""
        with self._lock:
            if len(self.keys) < 2:
                raise ValueError("cannot retire the only key")
            if kid is None:
                self.keys.pop()
            else:
                self.keys = [k for k in self.keys if k.kid != kid]

    # -- tokens ----------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.audience if self.issuer_format == "hostOnly" else f"https://{self.audience}/"

    def claims(
        self,
        email: str = "user@example.com",
        groups: t.Iterable[str] | None = (),
        **overrides: t.Any,
    ) -> dict[str, t.Any]:
        """Pomerium's claims for a user; any claim can be overridden or added."""
        now = int(self.clock())
        user = overrides.pop("user", None) or overrides.get("sub") or (
            "fake-" + hashlib.sha256(str(email).encode()).hexdigest()[:16]
        )
        claims: dict[str, t.Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "sub": user,
            "user": user,
            "email": email,
            # A str is kept as given (a wrong shape, for tests of bad tokens).
            "groups": groups if groups is None or isinstance(groups, str) else list(groups),
            "sid": str(uuid.uuid4()),
            "name": str(email).split("@")[0].replace(".", " ").title(),
        }
        claims.update(overrides)
        return claims

    def token(
        self,
        email: str = "user@example.com",
        groups: t.Iterable[str] | None = (),
        *,
        header: t.Mapping[str, t.Any] | None = None,
        key: SigningKey | None = None,
        **claims: t.Any,
    ) -> str:
        """Mint a token. Claims are overridable by keyword (``exp=...``, ``aud=...``);
        a claim given as None is left out."""
        payload = {k: v for k, v in self.claims(email, groups, **claims).items()
                   if v is not None or k == "groups"}
        return (key or self.signing_key).sign(payload, header)

    def headers(self, email: str = "user@example.com", groups: t.Iterable[str] | None = (),
                **claims: t.Any) -> dict[str, str]:
        """Request headers as Pomerium would send them to the upstream."""
        return {"X-Pomerium-Jwt-Assertion": self.token(email, groups, **claims)}

    def environ(self, email: str = "user@example.com", groups: t.Iterable[str] | None = (),
                **claims: t.Any) -> dict[str, str]:
        """The same, as WSGI environ entries."""
        return {"HTTP_X_POMERIUM_JWT_ASSERTION": self.token(email, groups, **claims)}

    def identity(self, email: str = "user@example.com",
                 groups: t.Iterable[str] | None = (), **claims: t.Any) -> Identity:
        """A verified :class:`~pomerium_wsgi.Identity`, as a request would carry it: for
        code that takes an identity directly (a FastAPI dependency override, a
        requirement's ``check``, an audit function). The token is minted and verified,
        so the identity is exactly what the middleware would produce."""
        return self.verifier().verify(self.token(email, groups, **claims))

    def verifier(self, **options: t.Any) -> Verifier:
        """A Verifier for this fake's audience; static keys unless ``jwks_url`` is given.

        With static keys, later :meth:`rotate` calls are not seen: serve the JWKS and
        pass ``jwks_url`` to test rotation.
        """
        options.setdefault("audience", self.audience)
        if "jwks_url" not in options:
            options.setdefault("jwks", self.jwks)
        options.setdefault("clock", self.clock)
        return Verifier(**options)

    # -- the JWKS endpoint -----------------------------------------------------------

    def _jwks_body(self) -> tuple[bytes, str]:
        with self._lock:
            body = json.dumps(self.jwks, separators=(",", ":")).encode()
        return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> t.Iterator[str]:
        """Serve the JWKS over HTTP on a loopback port; yields the JWKS URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.split("?")[0] != JWKS_PATH:
                    self.send_error(404)
                    return
                body, etag = fake._jwks_body()
                with fake._lock:
                    fake.jwks_requests += 1
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Cache-Control", f"max-age={fake.max_age}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", f"max-age={fake.max_age}")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: t.Any) -> None:
                pass

        server = _QuietServer((host, port), Handler)
        thread = threading.Thread(target=server.serve_forever, name="fake-pomerium-jwks",
                                  daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}{JWKS_PATH}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


try:  # the pytest plugin: only when pytest is there
    import pytest  # noqa: F401
except ImportError:  # pragma: no cover
    pass
else:
    # The fixture lives in the light-weight plugin pytest loads through its entry point;
    # listing this module in ``pytest_plugins`` (the older way) gives the same fixture.
    from pytest_pomerium_wsgi import pomerium  # noqa: F401
