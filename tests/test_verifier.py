"""Verifier: token -> Identity, every reason code, configuration errors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import typing as t

import jwt as pyjwt
import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jwt as jc_jwt

from pomerium_wsgi import (
    ConfigurationError,
    Identity,
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    InvalidSignature,
    KeysUnavailable,
    MalformedToken,
    MissingToken,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    VerificationError,
    Verifier,
)
from pomerium_wsgi.errors import REASONS
from pomerium_wsgi.keys import pomerium_kid
from pomerium_wsgi.testing import FakePomerium, SigningKey

from .helpers import T0, Clock, b64, segments


@pytest.fixture(params=["ES256", "RS256"])
def fake(request: pytest.FixtureRequest, clock: Clock) -> FakePomerium:
    return FakePomerium("app.example.com", request.param, clock=clock)


def test_valid_token_gives_identity(fake: FakePomerium) -> None:
    token = fake.token("alice@example.com", ["admins", "staff"], name="Alice Example")
    identity = fake.verifier().verify(token)
    claims = segments(token)[1]
    assert isinstance(identity, Identity)
    assert identity.email == "alice@example.com"
    assert identity.groups == ("admins", "staff")
    assert identity.subject == identity.user == claims["sub"]
    assert identity.name == "Alice Example"
    assert identity.session_id == claims["sid"]
    assert identity.token_id == claims["jti"]
    assert identity.issuer == "app.example.com"
    assert identity.audience == ("app.example.com",)
    assert identity.issued_at == dt.datetime.fromtimestamp(T0, dt.UTC)
    assert identity.expires_at == dt.datetime.fromtimestamp(T0 + 300, dt.UTC)
    assert identity.claims["email"] == "alice@example.com"
    assert identity.token == token


def test_token_header_and_claims_have_pomerium_shape(fake: FakePomerium) -> None:
    header, claims, _ = segments(fake.token())
    assert set(header) == {"alg", "kid", "typ"}
    assert header["typ"] == "JWT" and header["alg"] == fake.algorithm
    assert header["kid"] == pomerium_kid(fake.signing_key.public_jwk())
    assert len(header["kid"]) == 64 and int(header["kid"], 16) >= 0
    assert set(claims) == {"iss", "aud", "jti", "iat", "exp", "sub", "user", "email",
                           "groups", "sid", "name"}
    assert claims["exp"] == claims["iat"] + 300
    assert claims["sub"] == claims["user"]


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_pyjwt_minted_token_verifies(algorithm: str, clock: Clock) -> None:
    fake = FakePomerium(algorithm=algorithm, clock=clock)
    claims = fake.claims("bob@example.com", ["ops"])
    token = pyjwt.encode(claims, fake.signing_key.private_pem(), algorithm=algorithm,
                         headers={"kid": fake.signing_key.kid})
    identity = fake.verifier().verify(token)
    assert identity.email == "bob@example.com" and identity.groups == ("ops",)


def test_jwcrypto_minted_token_verifies(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    key = jc_jwk.JWK.from_pem(fake.signing_key.private_pem())
    token = jc_jwt.JWT(header={"alg": "ES256", "kid": fake.signing_key.kid, "typ": "JWT"},
                       claims=fake.claims("carol@example.com"))
    token.make_signed_token(key)
    assert fake.verifier().verify(token.serialize()).email == "carol@example.com"


def test_our_tokens_verify_with_pyjwt(fake: FakePomerium) -> None:
    token = fake.token("dave@example.com")
    public = fake.signing_key.key.public_key
    claims = pyjwt.decode(token, public, algorithms=[fake.algorithm], audience="app.example.com",
                          issuer="app.example.com", options={"verify_exp": False,
                                                             "verify_iat": False})
    assert claims["email"] == "dave@example.com"


def test_bytes_token_accepted(fake: FakePomerium) -> None:
    assert fake.verifier().verify(fake.token().encode()).email == "user@example.com"


class _HostileStr(str):
    def __str__(self) -> str:
        raise RuntimeError("boom " + self)

    def __len__(self) -> int:
        return 0


class _LyingStr(str):
    def __str__(self) -> str:
        return "not the token"


class _HostileBytes(bytes):
    def __bytes__(self) -> bytes:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 0


@pytest.mark.parametrize(
    "wrap", [str, _HostileStr, _LyingStr, bytes, bytearray, _HostileBytes],
    ids=["str", "str-raising-subclass", "str-lying-subclass", "bytes", "bytearray",
         "bytes-raising-subclass"],
)
def test_token_subclasses_are_read_as_their_base_type(fake: FakePomerium, wrap: type) -> None:
    token = fake.token()
    value = wrap(token) if issubclass(wrap, str) else wrap(token.encode("ascii"))
    assert fake.verifier().verify(value).email == "user@example.com"


@pytest.mark.parametrize("value", [42, 1.5, ["a.b.c"], object(), memoryview(b"a.b.c")],
                         ids=["int", "float", "list", "object", "memoryview"])
def test_non_text_token_is_malformed(fake: FakePomerium, value: object) -> None:
    with pytest.raises(MalformedToken, match="not text"):
        fake.verifier().verify(value)  # type: ignore[arg-type]


def test_oversized_bytes_token_refused_before_copying(fake: FakePomerium) -> None:
    verifier = fake.verifier(max_token_size=1024)
    with pytest.raises(MalformedToken, match="too large"):
        verifier.verify(_HostileBytes(b"a" * 2048))


def test_pomerium_example_signing_key_and_jwks(testdata, clock: Clock) -> None:
    pem = (testdata / "pomerium" / "docs_signing_key_example.pem").read_bytes()
    derived = json.loads((testdata / "pomerium" / "docs_signing_key_example.derived_jwks.json")
                         .read_text())
    key = SigningKey.from_pem(pem)
    assert key.kid == derived["keys"][0]["kid"]
    fake = FakePomerium("verify.trusted-dog-1049.pomerium.app", key=key, clock=clock)
    example = json.loads((testdata / "pomerium" / "docs_payload_zero_sso_example.json")
                         .read_text())
    example.update(iat=int(T0), exp=int(T0) + 300)
    token = key.sign(example)
    for verifier in (Verifier(fake.audience, jwks=derived, clock=clock),
                     Verifier(fake.audience, jwks=pem, clock=clock)):
        identity = verifier.verify(token)
        assert identity.email == "user@example.com" and identity.name == "John Doe"
        assert identity.groups == ()


def test_published_example_jwks_kid_is_the_thumbprint(testdata) -> None:
    document = json.loads((testdata / "pomerium" / "docs_jwks_example.json").read_text())
    (entry,) = document["keys"]
    assert pomerium_kid(entry) == entry["kid"]
    verifier = Verifier("app.example.com", jwks=document)
    assert verifier.keys.get(entry["kid"]).algorithm == "ES256"


def test_historic_payload_with_null_groups(testdata, clock: Clock) -> None:
    payload = json.loads((testdata / "pomerium" / "issue_2004_payload_historic.json").read_text())
    payload.update(iat=int(T0), exp=int(T0) + 14 * 3600)
    fake = FakePomerium("abc.localhost.pomerium.io", clock=clock)
    token = fake.signing_key.sign(payload)
    verifier = fake.verifier(issuer="authenticate.localhost.pomerium.io")
    identity = verifier.verify(token)
    assert identity.groups == () and identity.email == "saltbo@foxmail.com"
    # By default the issuer must be the route host: the old authenticate-host iss is refused.
    with pytest.raises(InvalidIssuer):
        fake.verifier().verify(token)


@pytest.mark.parametrize("issuer_format, iss", [("hostOnly", "app.example.com"),
                                                 ("uri", "https://app.example.com/")],
                         ids=["host", "uri"])
def test_issuer_in_both_forms(issuer_format: str, iss: str, clock: Clock) -> None:
    fake = FakePomerium(issuer_format=issuer_format, clock=clock)
    assert fake.verifier().verify(fake.token()).issuer == iss


@pytest.mark.parametrize(
    "audience",
    ["app.example.com", "APP.example.com", "https://app.example.com",
     "https://app.example.com/some/path", "https://app.example.com:443/",
     ["other.example.com", "app.example.com"]],
    ids=["host", "uppercase", "url", "url-path", "url-default-port", "several"],
)
def test_audience_forms(audience: object, clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    verifier = Verifier(audience, jwks=fake.jwks, clock=clock)  # type: ignore[arg-type]
    assert verifier.verify(fake.token()).audience == ("app.example.com",)


def test_audience_list_claim(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    token = fake.token(aud=["x.example.com", "app.example.com"])
    assert fake.verifier().verify(token).audience == ("x.example.com", "app.example.com")


def test_explicit_issuer(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    verifier = fake.verifier(issuer="https://authenticate.example.com")
    with pytest.raises(InvalidIssuer):
        verifier.verify(fake.token())
    assert verifier.verify(fake.token(iss="https://authenticate.example.com")).email


# -- every reason code ---------------------------------------------------------------

def _forge(fake: FakePomerium) -> str:
    header, payload, _ = fake.token().split(".")
    other = FakePomerium(algorithm=fake.algorithm).token().split(".")[2]
    return f"{header}.{payload}.{other}"


REASON_CASES = {
    "missing-none": (lambda f: None, MissingToken),
    "missing-empty": (lambda f: "", MissingToken),
    "malformed-garbage": (lambda f: "not a token", MalformedToken),
    "malformed-two-segments": (lambda f: "a.b", MalformedToken),
    "malformed-type": (lambda f: 12345, MalformedToken),
    "signature-forged": (_forge, InvalidSignature),
    "signature-alg-none": (
        lambda f: f.token(header={"alg": "none"}).rsplit(".", 1)[0] + ".", InvalidSignature),
    "unknown-key": (lambda f: f.token(header={"kid": "0" * 64}), UnknownKey),
    "expired": (lambda f: f.token(iat=int(T0) - 400, exp=int(T0) - 100), TokenExpired),
    "not-yet-valid-iat": (lambda f: f.token(iat=int(T0) + 120, exp=int(T0) + 420),
                          TokenNotYetValid),
    "not-yet-valid-nbf": (lambda f: f.token(nbf=int(T0) + 120), TokenNotYetValid),
    "audience": (lambda f: f.token(aud="other.example.com"), InvalidAudience),
    "issuer": (lambda f: f.token(iss="evil.example.com"), InvalidIssuer),
    "claims-no-sub": (lambda f: f.token(sub=None, user="u"), InvalidClaims),
    "claims-groups-type": (lambda f: f.token(groups="admins"), InvalidClaims),
    "claims-exp-string": (lambda f: f.token(exp="soon"), InvalidClaims),
}


@pytest.mark.parametrize("case", list(REASON_CASES), ids=list(REASON_CASES))
def test_every_reason(case: str, fake: FakePomerium) -> None:
    make, expected = REASON_CASES[case]
    with pytest.raises(expected) as info:
        fake.verifier().verify(make(fake))
    assert info.value.reason == expected.reason and info.value.status == 401
    assert type(info.value) is expected


# -- which reason when several checks fail ------------------------------------------------

def _mint(source: str, fake: FakePomerium, *, sign_with: FakePomerium | None = None,
          header: dict[str, t.Any] | None = None, **claims: t.Any) -> str:
    """A token from FakePomerium or from PyJWT (same claims), signed by *sign_with*'s key
    (default: the fake's own) under the fake's kid unless *header* says otherwise."""
    signer = (sign_with or fake).signing_key
    fields = {"kid": fake.signing_key.kid, "typ": "JWT", **(header or {})}
    if source == "fake":
        return fake.token(header=fields, key=signer, **claims)
    payload = {k: v for k, v in fake.claims(**claims).items() if v is not None or k == "groups"}
    if fields.get("alg") == "HS256":  # PyJWT signs HMAC only with a shared secret
        return pyjwt.encode(payload, b"s" * 32, algorithm="HS256", headers=fields)
    return pyjwt.encode(payload, signer.private_pem(), algorithm=fake.algorithm,
                        headers=fields)


_PAST = {"iat": int(T0) - 400, "exp": int(T0) - 100}
_FUTURE = {"iat": int(T0) + 120, "exp": int(T0) + 420}
_OTHER_ROUTE = {"aud": "other.example.com", "iss": "other.example.com"}
PRECEDENCE_CASES = {
    # A token for another route of the same Pomerium: the audience names the cause.
    "other-route-aud+iss": ({**_OTHER_ROUTE}, InvalidAudience),
    "other-route-aud+uri-iss": ({"aud": "other.example.com",
                                 "iss": "https://other.example.com/"}, InvalidAudience),
    "aud+expired": ({"aud": "other.example.com", **_PAST}, InvalidAudience),
    "other-route+expired": ({**_OTHER_ROUTE, **_PAST}, InvalidAudience),
    "iss+expired": ({"iss": "evil.example.com", **_PAST}, InvalidIssuer),
    "iss+not-yet-valid": ({"iss": "evil.example.com", **_FUTURE}, InvalidIssuer),
    "expired+groups-type": ({"groups": "admins", **_PAST}, InvalidClaims),
    "aud+groups-type": ({"aud": "other.example.com", "groups": "admins"}, InvalidClaims),
    "iss+email-type": ({"iss": "evil.example.com", "email": 0}, InvalidClaims),
    "other-route+exp-string": ({**_OTHER_ROUTE, "exp": "soon"}, InvalidClaims),
    "aud+sub-type": ({"aud": "other.example.com", "sub": 7, "user": "u"}, InvalidClaims),
    "expired+no-sub": ({"sub": None, "user": "u", **_PAST}, TokenExpired),
    "not-yet-valid+no-sub": ({"sub": None, "user": "u", **_FUTURE}, TokenNotYetValid),
    "aud+no-sub": ({"aud": "other.example.com", "sub": None, "user": "u"}, InvalidAudience),
    "iss+no-sub": ({"iss": "evil.example.com", "sub": None, "user": "u"}, InvalidIssuer),
    "bad-signature+aud": ({"sign_with": "other", "aud": "other.example.com"},
                          InvalidSignature),
    "bad-signature+groups-type": ({"sign_with": "other", "groups": "admins"},
                                  InvalidSignature),
    "bad-signature+expired": ({"sign_with": "other", **_PAST}, InvalidSignature),
    "unknown-key+other-route": ({"header": {"kid": "0" * 64}, **_OTHER_ROUTE}, UnknownKey),
    "alg-not-allowed+aud": ({"header": {"alg": "HS256"}, "aud": "other.example.com"},
                            InvalidSignature),
}


@pytest.mark.parametrize("source", ["fake", "pyjwt"])
@pytest.mark.parametrize("case", list(PRECEDENCE_CASES), ids=list(PRECEDENCE_CASES))
def test_reason_precedence_when_several_checks_fail(
    case: str, source: str, fake: FakePomerium, clock: Clock
) -> None:
    """Structure and signature, then claim types, audience, issuer, times, other claims."""
    options, expected = PRECEDENCE_CASES[case]
    options = dict(options)
    if options.pop("sign_with", None):
        options["sign_with"] = FakePomerium(algorithm=fake.algorithm, clock=clock)
    token = _mint(source, fake, **options)
    with pytest.raises(VerificationError) as info:
        fake.verifier().verify(token)
    assert type(info.value) is expected, f"{case}: {info.value.reason}"


def test_reason_table_is_complete() -> None:
    assert set(REASONS) == {"missing", "malformed", "signature", "unknown_key", "expired",
                            "not_yet_valid", "audience", "issuer", "claims",
                            "keys_unavailable"}
    assert all(issubclass(cls, VerificationError) for cls in REASONS.values())
    assert KeysUnavailable.status == 503


def test_keys_unavailable_when_endpoint_refuses(clock: Clock) -> None:
    from .conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/.well-known/pomerium/jwks.json"
    verifier = Verifier("app.example.com", jwks_url=url, timeout=2, clock=clock)
    with pytest.raises(KeysUnavailable) as info:
        verifier.verify(FakePomerium(clock=clock).token())
    assert info.value.status == 503 and info.value.reason == "keys_unavailable"


def test_es256_token_against_rsa_key_of_same_kid(clock: Clock) -> None:
    ec_fake = FakePomerium(clock=clock)
    rsa_key = FakePomerium(algorithm="RS256").signing_key
    jwks = {"keys": [{**rsa_key.public_jwk(), "kid": ec_fake.signing_key.kid}]}
    with pytest.raises(InvalidSignature):
        Verifier("app.example.com", jwks=jwks, clock=clock).verify(ec_fake.token())


def test_algorithm_not_enabled(clock: Clock) -> None:
    fake = FakePomerium(algorithm="RS256", clock=clock)
    with pytest.raises(InvalidSignature):
        fake.verifier(algorithms=["ES256"]).verify(fake.token())


# -- leeway edges (time frozen) --------------------------------------------------------

@pytest.mark.parametrize(
    "claims, leeway, expected",
    [
        ({"exp": T0 - 30}, 30, None),
        ({"exp": T0 - 31}, 30, TokenExpired),
        ({"exp": T0}, 0, None),
        ({"exp": T0 - 1}, 0, TokenExpired),
        ({"iat": T0 + 30, "exp": T0 + 330}, 30, None),
        ({"iat": T0 + 31, "exp": T0 + 331}, 30, TokenNotYetValid),
        ({"nbf": T0 + 30}, 30, None),
        ({"nbf": T0 + 31}, 30, TokenNotYetValid),
        ({"iat": T0 + 1, "exp": T0 + 301}, 0, TokenNotYetValid),
        ({"exp": T0 - 0.5}, 0, TokenExpired),
    ],
    ids=["exp-at-leeway", "exp-past-leeway", "exp-now-no-leeway", "exp-1s-no-leeway",
         "iat-at-leeway", "iat-past-leeway", "nbf-at-leeway", "nbf-past-leeway",
         "iat-1s-no-leeway", "exp-fractional"],
)
def test_leeway_edges(claims: dict[str, float], leeway: int, expected: type | None,
                      clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    token = fake.token(**claims)
    verifier = fake.verifier(leeway=leeway)
    if expected is None:
        assert verifier.verify(token).email
    else:
        with pytest.raises(expected):
            verifier.verify(token)


# -- the verified-token cache ------------------------------------------------------------

def test_repeated_token_is_served_from_cache_until_exp(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    verifier = fake.verifier(leeway=0, token_cache_size=256)
    token = fake.token()
    first = verifier.verify(token)
    assert verifier.verify(token) is first
    clock.advance(300)
    assert verifier.verify(token) is first
    clock.advance(1)
    with pytest.raises(TokenExpired):
        verifier.verify(token)


def test_cache_answers_an_equal_token_in_a_new_string(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    verifier = fake.verifier(token_cache_size=256)
    token = fake.token()
    first = verifier.verify(token)
    copy = "".join(list(token))  # equal, but another object with no cached hash
    assert copy is not token
    assert verifier.verify(copy) is first


@pytest.mark.parametrize("part", ["payload", "header"])
def test_cache_never_answers_another_token_under_a_remembered_signature(
    clock: Clock, part: str
) -> None:
    fake = FakePomerium(clock=clock)
    verifier = fake.verifier(token_cache_size=256)
    token = fake.token(email="ada@example.com", groups=["staff"])
    first = verifier.verify(token)
    header, payload, signature = token.split(".")
    if part == "payload":
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["groups"] = ["admins"]
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    else:
        fields = json.loads(base64.urlsafe_b64decode(header + "=="))
        fields["typ"] = "jwt"
        header = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
    forged = f"{header}.{payload}.{signature}"
    for _ in range(2):
        with pytest.raises(InvalidSignature):
            verifier.verify(forged)
    # The genuine entry survives the forgeries.
    assert verifier.verify(token) is first


def test_token_checked_while_the_keys_change_is_not_cached_past_the_change(
    clock: Clock,
) -> None:
    fake = FakePomerium(clock=clock)
    verifier = fake.verifier(token_cache_size=256)
    real = verifier.keys

    class ChangingKeys:
        """Another thread replaces the key set while this token's key is being found."""

        generation = real.generation

        def get(self, kid: str) -> t.Any:
            key = real.get(kid)
            self.generation += 1
            return key

    verifier.keys = ChangingKeys()  # type: ignore[assignment]
    token = fake.token()
    first = verifier.verify(token)
    assert verifier.verify(token) is not first  # verified again, not served from the cache


def test_cache_evicts_the_least_recently_used_token(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    verifier = fake.verifier(token_cache_size=2)
    a, b, c = (fake.token(email=f"{name}@example.com") for name in "abc")
    first_a, first_b = verifier.verify(a), verifier.verify(b)
    assert verifier.verify(a) is first_a  # a is now the most recently used
    verifier.verify(c)  # evicts b, not a
    assert verifier.verify(a) is first_a
    assert verifier.verify(b) is not first_b


def test_cache_is_bounded_and_can_be_disabled(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    verifier = fake.verifier(token_cache_size=3)
    tokens = [fake.token(email=f"u{i}@example.com") for i in range(10)]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._verified) <= 3
    uncached = fake.verifier(token_cache_size=0)
    token = fake.token()
    assert uncached.verify(token) is not uncached.verify(token)


def test_cache_is_off_by_default(clock: Clock) -> None:
    """Pomerium never sends a token twice: by default nothing is remembered."""
    fake = FakePomerium(clock=clock)
    verifier = fake.verifier()
    token = fake.token()
    assert verifier.token_cache_size == 0
    assert verifier.verify(token) is not verifier.verify(token)
    assert len(verifier._verified) == 0


# -- configuration errors ----------------------------------------------------------------

CONFIG_ERRORS = {
    "no-audience": {"audience": None},
    "empty-audience": {"audience": ""},
    "empty-audience-list": {"audience": []},
    "audience-with-space": {"audience": "app example.com"},
    "audience-url-without-host": {"audience": "https://"},
    "hmac-algorithm": {"algorithms": ["HS256"]},
    "none-algorithm": {"algorithms": ["none"]},
    "unknown-algorithm": {"algorithms": ["ES384"]},
    "no-algorithms": {"algorithms": []},
    "negative-leeway": {"leeway": -1},
    "huge-leeway": {"leeway": 3600},
    "bool-leeway": {"leeway": True},
    "http-jwks-remote": {"jwks_url": "http://pomerium.example.com/jwks.json"},
    "ftp-jwks": {"jwks_url": "ftp://example.com/jwks.json"},
    "relative-jwks": {"jwks_url": "/jwks.json"},
    "jwks-and-url": {"jwks": {"keys": []}, "jwks_url": "https://a.example.com/j"},
    "empty-jwks": {"jwks": {"keys": []}},
    "bad-jwks-json": {"jwks": "{not json"},
    "bad-pem": {"jwks": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
    "bad-cache": {"cache": {}},
    "zero-timeout": {"timeout": 0},
    "tiny-max-token": {"max_token_size": 10},
    "negative-token-cache": {"token_cache_size": -1},
    "issuer-empty": {"issuer": ""},
    "issuer-wrong-type": {"issuer": [1]},
}


@pytest.mark.parametrize("options", list(CONFIG_ERRORS.values()), ids=list(CONFIG_ERRORS))
def test_configuration_errors(options: dict[str, object]) -> None:
    options = {"audience": "app.example.com", **options}
    audience = options.pop("audience")
    with pytest.raises(ConfigurationError) as info:
        Verifier(audience, **options)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert str(info.value)


def test_default_jwks_url_and_issuers() -> None:
    verifier = Verifier("https://App.Example.com/")
    assert verifier.keys.url == "https://app.example.com/.well-known/pomerium/jwks.json"  # type: ignore[attr-defined]
    assert verifier.issuers == {"app.example.com", "https://app.example.com/"}
    assert "app.example.com" in repr(verifier)


def test_loopback_http_jwks_allowed() -> None:
    for url in ("http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9/j"):
        assert Verifier("app.example.com", jwks_url=url).keys.url == url  # type: ignore[attr-defined]


# -- identity ------------------------------------------------------------------------------

def test_identity_repr_hides_token_and_is_frozen(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    token = fake.token(groups=["a", "b"])
    identity = fake.verifier().verify(token)
    assert token not in repr(identity) and token.split(".")[2] not in repr(identity)
    assert str(identity) == "user@example.com"
    with pytest.raises(AttributeError):
        identity.email = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        identity.claims["email"] = "x"  # type: ignore[index]
    assert identity.in_group("x", "a") and not identity.in_group("x")
    assert identity.in_all_groups("a", "b") and not identity.in_all_groups("a", "c")
    assert not identity.in_all_groups()
    assert hash(identity) == hash(identity)


def test_extra_claims_are_kept(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    identity = fake.verifier().verify(fake.token(department="eng", level=3))
    assert identity.claims["department"] == "eng" and identity.claims["level"] == 3


def test_large_token_with_many_groups(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    groups = [f"group-{i:04d}-{'x' * 40}" for i in range(300)]
    token = fake.token(groups=groups)
    assert 15_000 < len(token) < 65536
    assert len(fake.verifier().verify(token).groups) == 300


def test_oversized_token_refused_before_decoding(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    token = fake.token(groups=["g" * 100] * 800)
    assert len(token) > 65536
    with pytest.raises(MalformedToken, match="too large"):
        fake.verifier().verify(token)
    assert fake.verifier(max_token_size=200_000).verify(token).email


@pytest.mark.parametrize("segment", ["header", "payload", "signature"])
def test_padding_is_refused(segment: str, clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    parts = fake.token().split(".")
    index = ["header", "payload", "signature"].index(segment)
    parts[index] += "=="
    with pytest.raises(MalformedToken):
        fake.verifier().verify(".".join(parts))


def test_duplicate_claim_is_refused(clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    payload = json.dumps(fake.claims())[:-1] + ', "email": "admin@example.com"}'
    header = b64(json.dumps({"alg": "ES256", "kid": fake.signing_key.kid, "typ": "JWT"}))
    signing_input = f"{header}.{b64(payload)}"
    from joserfc.jws import JWSRegistry

    sig = JWSRegistry.algorithms["ES256"].sign(signing_input.encode(), fake.signing_key.key)
    with pytest.raises(MalformedToken):
        fake.verifier().verify(f"{signing_input}.{b64(sig)}")


@pytest.mark.parametrize("claim, value", [("email", False), ("email", 0), ("name", []),
                                          ("sid", {}), ("jti", 5), ("user", 7)],
                         ids=["email-false", "email-zero", "name-list", "sid-object",
                              "jti-int", "user-int"])
def test_string_claims_of_the_wrong_type(claim: str, value: object, clock: Clock) -> None:
    fake = FakePomerium(clock=clock)
    with pytest.raises(InvalidClaims):
        fake.verifier().verify(fake.token(**{claim: value}))


def test_non_ascii_bytes_token_leaves_no_trace_of_itself(clock: Clock) -> None:
    token = FakePomerium(clock=clock).token().encode() + "é".encode()
    with pytest.raises(MalformedToken) as info:
        FakePomerium(clock=clock).verifier().verify(token)
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize(
    ("configured", "aud", "accepted"),
    [
        ("kate.example.com", "KATE.Example.COM", True),
        ("kate.example.com", ["other.example.com", "Kate.example.com"], True),
        ("kate.example.com", "\u212aate.example.com", False),
        ("kate.example.com", ["\u212aate.example.com"], False),
        ("\u212aate.example.com", "kate.example.com", False),
    ],
    ids=["ascii-case", "ascii-case-in-list", "kelvin-sign", "kelvin-sign-in-list",
         "kelvin-sign-configured"],
)
def test_audience_folds_ascii_case_only(
    clock: Clock, configured: str, aud: str | list[str], accepted: bool
) -> None:
    # str.lower() turns the KELVIN SIGN (U+212A) into 'k': another host, never ours.
    fake = FakePomerium(configured, clock=clock)
    token = fake.token(aud=aud, iss=configured)
    if accepted:
        assert fake.verifier().verify(token).audience == ((aud,) if isinstance(aud, str)
                                                          else tuple(aud))
    else:
        with pytest.raises(InvalidAudience):
            fake.verifier().verify(token)
