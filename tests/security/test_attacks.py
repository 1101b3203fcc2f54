"""The attack corpus: every hostile token is refused cleanly.

For each case in :mod:`tests.security._corpus` this checks, against real keys and real
loopback servers:

* ``Verifier.verify`` raises exactly the expected :class:`VerificationError` subclass
  (never returns an identity, never raises anything else);
* a real :class:`PomeriumMiddleware` answers 401 (never 500), with the expected reason
  code, without reaching the app, and without echoing the token or its signature;
* both finish within a generous time bound (a token that stalls a worker is a
  denial-of-service bug even if it is refused in the end);
* the loopback listener named by ``jku`` / ``x5u`` headers has accepted no connection.
"""

from __future__ import annotations

import json
import time
import typing as t
import uuid

import pytest

from pomerium_wsgi import (
    ConfigurationError,
    MalformedToken,
    MissingToken,
    UnknownKey,
    VerificationError,
    Verifier,
)
from pomerium_wsgi.testing import FakePomerium

from ._corpus import CASES, Case, World
from ._support import (
    AUDIENCE,
    NOW,
    TIME_BOUND,
    as_header_value,
    call_middleware,
    secrets_of,
    timed,
)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_token_is_refused(case: Case, world: World, base64_decoder: str) -> None:
    verifier, token = case.build(world)
    result, error, seconds = timed(lambda: verifier.verify(token))
    assert type(error) is case.expected, (
        f"expected {case.expected.__name__}, got {error!r} (result {result!r})"
    )
    assert seconds < TIME_BOUND, f"verify took {seconds:.2f} s"
    for secret in secrets_of(token):
        assert secret not in str(error) and secret not in repr(error)

    response, crash, seconds = timed(lambda: call_middleware(verifier, as_header_value(token)))
    assert crash is None, f"the middleware raised {crash!r}"
    assert seconds < TIME_BOUND, f"the middleware took {seconds:.2f} s"
    assert response.status.startswith("401 "), response.status
    assert not response.reached_app
    body = response.body.decode("utf-8")
    assert json.loads(body)["reason"] == case.expected.reason
    assert ("Cache-Control", "no-store") in response.headers
    for secret in secrets_of(token):
        assert secret not in body
    assert world.listener.accepted == 0, "a key URL named by the token was contacted"


def test_corpus_covers_every_category() -> None:
    counts: dict[str, int] = {}
    for c in CASES:
        counts[c.category] = counts.get(c.category, 0) + 1
    assert set(counts) == {"alg", "ecdsa", "keys", "kid", "crit", "shape", "claims", "jwks"}
    assert all(n >= 5 for n in counts.values()), counts


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_positive_control_verifies(world: World, algorithm: str) -> None:
    """The corpus's keys and clock really do verify a good token: refusals are not vacuous."""
    fake = world.fake if algorithm == "ES256" else world.fake_rsa
    key = world.ec_key if algorithm == "ES256" else world.rsa_key
    token = world.token(world.header(alg=algorithm, kid=fake.signing_key.kid), key=key)
    identity = world.verifier().verify(token)
    assert identity.subject == world.claims()["sub"]
    response = call_middleware(world.verifier(), token)
    assert response.status.startswith("200 ") and response.reached_app


@pytest.mark.parametrize(
    "algorithms",
    [("HS256",), ("HS384",), ("HS512",), ("none",), ("None",), ("ES256", "HS256"),
     ("RS256", "none"), ("PS256",), ("ES384",), ("EdDSA",), ("es256",), ()],
    ids=lambda a: "+".join(a) or "empty",
)
def test_hmac_none_and_other_algorithms_are_configuration_errors(
    world: World, algorithms: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigurationError):
        Verifier(AUDIENCE, jwks=world.jwks, algorithms=algorithms)


@pytest.mark.parametrize("value", [12345, 1.5, ["a.b.c"], {"token": "a.b.c"}, object()],
                         ids=["int", "float", "list", "dict", "object"])
def test_non_text_tokens_are_malformed(world: World, value: t.Any) -> None:
    with pytest.raises(MalformedToken):
        world.verifier().verify(value)


def test_no_token_is_missing(world: World) -> None:
    with pytest.raises(MissingToken):
        world.verifier().verify(None)
    response = call_middleware(world.verifier(), None)
    assert response.status.startswith("401 ") and not response.reached_app
    assert json.loads(response.body)["reason"] == "missing"


def test_unknown_kid_storm_fetches_at_most_once_per_cooldown(world: World) -> None:
    """Many tokens with fresh random kids must not turn into a JWKS fetch each."""
    fake = FakePomerium(AUDIENCE)
    with fake.serve() as url:
        verifier = Verifier(AUDIENCE, jwks_url=url, cooldown=30.0)
        start = time.monotonic()
        for _ in range(200):
            token = world.token(world.header(kid=uuid.uuid4().hex), key=world.attacker)
            with pytest.raises(UnknownKey):
                verifier.verify(token)
        # The first lookup loads the keys and, for its unknown kid, refetches once.
        assert fake.jwks_requests <= 2
        assert time.monotonic() - start < 200 * TIME_BOUND


def test_token_urls_are_never_fetched_by_a_fetching_verifier(world: World) -> None:
    """jku / x5u pointing at a live listener: the listener accepts nothing, ever."""
    fake = FakePomerium(AUDIENCE, clock=lambda: NOW)
    with fake.serve() as url:
        verifier = Verifier(AUDIENCE, jwks_url=url, clock=lambda: NOW)
        for kid in ("attacker", world.ec_kid, fake.signing_key.kid):
            token = world.token(world.header(kid=kid, jku=world.listener.url,
                                             x5u=world.listener.url,
                                             jwk=world.attacker_jwk),
                                key=world.attacker)
            with pytest.raises(VerificationError):
                verifier.verify(token)
        assert world.listener.accepted == 0


def test_spoofed_claim_headers_never_reach_the_app(world: World) -> None:
    """X-Pomerium-Claim-* headers are unsigned: refused request, and stripped anyway."""
    seen: dict[str, t.Any] = {}

    def app(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    from wsgiref.util import setup_testing_defaults

    from pomerium_wsgi import PomeriumMiddleware

    environ: dict[str, t.Any] = {"HTTP_X_POMERIUM_CLAIM_EMAIL": "admin@example.com",
                                 "HTTP_X_POMERIUM_CLAIM_GROUPS": "admins"}
    setup_testing_defaults(environ)
    statuses: list[str] = []
    middleware = PomeriumMiddleware(app, world.verifier(), optional=True)
    middleware(environ, lambda status, headers, exc_info=None: statuses.append(status))
    assert not any(k.startswith("HTTP_X_POMERIUM_CLAIM_") for k in seen)
    assert seen["pomerium.identity"] is None
