"""FakePomerium and the pytest fixture."""

from __future__ import annotations

import json
import urllib.request

import jwt as pyjwt
import pytest
from joserfc.jwk import ECKey

from pomerium_wsgi import Verifier, require_group
from pomerium_wsgi.keys import pomerium_kid
from pomerium_wsgi.testing import FakePomerium, SigningKey

from .helpers import Clock, segments


def test_fixture_gives_a_fake(pomerium: FakePomerium) -> None:
    assert isinstance(pomerium, FakePomerium) and pomerium.audience == "app.example.com"
    assert pomerium.verifier().verify(pomerium.token()).email == "user@example.com"


def test_claims_overridable_and_removable() -> None:
    clock = Clock()
    fake = FakePomerium("svc.example.com", clock=clock)
    _, claims, _ = segments(fake.token("z@example.com", ["g"], name=None, custom=[1, 2],
                                       exp=int(clock.now) + 10))
    assert "name" not in claims and claims["custom"] == [1, 2]
    assert claims["exp"] == int(clock.now) + 10 and claims["aud"] == "svc.example.com"
    _, claims, _ = segments(fake.token(groups=None))
    assert claims["groups"] is None


def test_headers_and_environ(pomerium: FakePomerium) -> None:
    (name, token), = pomerium.headers().items()
    assert name == "X-Pomerium-Jwt-Assertion" and token.count(".") == 2
    assert list(pomerium.environ()) == ["HTTP_X_POMERIUM_JWT_ASSERTION"]


def test_rotate_lists_new_key_first_and_keeps_old() -> None:
    fake = FakePomerium()
    old = fake.signing_key
    new = fake.rotate()
    kids = [k["kid"] for k in fake.jwks["keys"]]
    assert kids == [new.kid, old.kid]
    assert segments(fake.token())[0]["kid"] == new.kid
    fake.retire()
    assert [k["kid"] for k in fake.jwks["keys"]] == [new.kid]
    with pytest.raises(ValueError):
        fake.retire()


def test_serve_answers_like_pomerium() -> None:
    fake = FakePomerium()
    with fake.serve() as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith(
            "/.well-known/pomerium/jwks.json")
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.headers["Cache-Control"] == "max-age=60"
            etag = response.headers["ETag"]
            document = json.loads(response.read())
        assert document == fake.jwks
        request = urllib.request.Request(url, headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 304
        info.value.close()
        assert fake.jwks_requests == 2


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_jwks_entries_have_pomerium_shape(algorithm: str) -> None:
    fake = FakePomerium(algorithm=algorithm)
    (entry,) = fake.jwks["keys"]
    assert entry["use"] == "sig" and entry["alg"] == algorithm
    assert entry["kid"] == pomerium_kid(entry)
    assert not {"d", "p", "q"} & set(entry)


def test_tokens_verify_with_pyjwt_through_jwks() -> None:
    fake = FakePomerium()
    jwk_set = pyjwt.PyJWKSet.from_dict(fake.jwks)
    token = fake.token()
    key = jwk_set[segments(token)[0]["kid"]]
    claims = pyjwt.decode(token, key.key, algorithms=["ES256"], audience="app.example.com",
                          issuer="app.example.com")
    assert claims["email"] == "user@example.com"


def test_signing_key_round_trips_through_pem() -> None:
    key = SigningKey("RS256")
    again = SigningKey.from_pem(key.private_pem())
    assert again.kid == key.kid and again.algorithm == "RS256"
    with pytest.raises(ValueError):
        SigningKey.from_pem(key.key.as_pem(private=False))
    with pytest.raises(ValueError):
        SigningKey("HS256")
    p384 = ECKey.generate_key("P-384").as_pem(private=True)
    with pytest.raises(ValueError, match="P-256"):
        SigningKey.from_pem(p384)


def test_verifier_with_served_keys() -> None:
    fake = FakePomerium(issuer_format="uri")
    with fake.serve() as url:
        verifier = fake.verifier(jwks_url=url)
        assert isinstance(verifier, Verifier)
        assert verifier.verify(fake.token()).issuer == "https://app.example.com/"
    with pytest.raises(ValueError):
        FakePomerium(issuer_format="path")


def test_identity_is_what_the_middleware_would_produce(fake: FakePomerium) -> None:
    identity = fake.identity("ada@example.com", ["admins"], name="Ada L")
    assert identity == fake.verifier().verify(identity.token)
    assert (identity.email, identity.groups, identity.name) == (
        "ada@example.com", ("admins",), "Ada L")
    assert identity.audience == (fake.audience,)
    assert require_group("admins").check(identity)
    assert not require_group("staff").check(identity)
