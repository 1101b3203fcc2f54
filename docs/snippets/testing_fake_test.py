# test_fake.py: what FakePomerium gives a test (no conftest needed for the fixture)
import pytest

from pomerium_wsgi import TokenExpired, Verifier


def test_tokens_headers_and_keys(pomerium):
    token = pomerium.token("ada@example.com", ["admins"], department="finance")
    identity = pomerium.verifier().verify(token)
    assert identity.email == "ada@example.com" and identity.groups == ("admins",)
    assert identity.claims["department"] == "finance"
    assert pomerium.headers("ada@example.com").keys() == {"X-Pomerium-Jwt-Assertion"}


def test_any_claim_can_be_overridden(pomerium):
    expired = pomerium.token(exp=1_000_000, iat=999_700)
    with pytest.raises(TokenExpired):
        pomerium.verifier().verify(expired)
    no_name = pomerium.token(name=None)  # a claim given as None is left out
    assert "name" not in pomerium.verifier().verify(no_name).claims


def test_a_real_jwks_endpoint_and_key_rotation(pomerium):
    with pomerium.serve() as jwks_url:
        verifier = Verifier(pomerium.audience, jwks_url=jwks_url)
        old = pomerium.token()
        pomerium.rotate()  # a new key signs; the old one stays published
        assert verifier.verify(pomerium.token()).audience == ("app.example.com",)
        assert verifier.verify(old).audience == ("app.example.com",)
        assert len(pomerium.jwks["keys"]) == 2  # what the endpoint serves
