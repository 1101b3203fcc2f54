"""django_pomerium.middleware: verification, refusals, claim headers, the token-as-session
rule, optional mode, exempt paths, CORS preflight, signals; under WSGI and ASGI."""

from __future__ import annotations

import json
import threading
import typing as t

import jwt
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client

from pomerium_wsgi import Identity, VerificationError
from pomerium_wsgi.signals import identity_verified, verification_failed
from pomerium_wsgi.testing import FakePomerium
from tests.helpers import Clock, JWKSServer, jwks_answer

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def site(settings: t.Any, fake: FakePomerium) -> t.Callable[..., None]:
    """Configure ``settings.POMERIUM`` with *fake*'s verifier and extra keys."""

    def configure(**extra: t.Any) -> None:
        settings.POMERIUM = {"VERIFIER": fake.verifier(), **extra}

    configure()
    return configure


def token_meta(fake: FakePomerium, email: str = "ada@example.com",
               groups: t.Sequence[str] = ()) -> dict[str, str]:
    return {"HTTP_X_POMERIUM_JWT_ASSERTION": fake.token(email, list(groups))}


def test_verified_request_has_identity_and_user(client: Client, site: t.Any,
                                                fake: FakePomerium) -> None:
    response = client.get("/whoami", **token_meta(fake))
    assert response.status_code == 200
    assert response.json()["identity"] == "ada@example.com"
    assert response.json()["user"] == "ada@example.com"
    assert "sessionid" not in response.cookies  # nothing written to the session


def test_token_from_pyjwt_is_accepted(client: Client, site: t.Any, fake: FakePomerium,
                                      clock: Clock) -> None:
    # An independent signer, with Pomerium's header and claims.
    key = fake.signing_key.key.as_pem(private=True)
    now = int(clock())
    claims = {"iss": fake.audience, "aud": fake.audience, "jti": "j-1", "iat": now,
              "exp": now + 300, "sub": "u-1", "user": "u-1", "email": "pyjwt@example.com",
              "groups": ["admins"], "sid": "s-1", "name": "Py JWT"}
    token = jwt.encode(claims, key, algorithm="ES256",
                       headers={"kid": fake.signing_key.kid, "typ": "JWT"})
    response = client.get("/admins", HTTP_X_POMERIUM_JWT_ASSERTION=token)
    assert response.status_code == 200 and response.json()["user"] == "pyjwt@example.com"


@pytest.mark.parametrize(("accept", "content_type"), [
    pytest.param("application/json", "application/problem+json", id="api-client"),
    pytest.param("text/plain", "text/plain; charset=utf-8", id="text"),
])
def test_missing_token_is_refused_with_core_body(client: Client, site: t.Any, accept: str,
                                                 content_type: str) -> None:
    response = client.get("/whoami", HTTP_ACCEPT=accept)
    assert response.status_code == 401
    assert response["Content-Type"] == content_type
    assert response["Cache-Control"] == "no-store"
    assert response["WWW-Authenticate"].startswith("Pomerium")
    assert b"missing" in response.content


def test_browser_gets_the_core_body_for_browsers(client: Client, site: t.Any) -> None:
    from pomerium_wsgi.problem import problem

    captured: list[t.Any] = []
    environ = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}
    expected = b"".join(problem(environ, lambda s, h, e=None: captured.append(h), 401,
                                "missing", "no identity token in the request"))
    response = client.get("/whoami", **environ)
    assert response.status_code == 401 and response.content == expected
    assert response["Content-Type"] == dict(captured[0])["Content-Type"]


def test_bad_token_is_refused_and_never_echoed(client: Client, site: t.Any) -> None:
    foreign = FakePomerium().token("eve@example.com")
    response = client.get("/whoami", HTTP_X_POMERIUM_JWT_ASSERTION=foreign, **JSON)
    assert response.status_code == 401
    assert response.json()["reason"] == "unknown_key"
    assert foreign.encode() not in response.content
    assert foreign.split(".")[2].encode() not in response.content


def test_keys_unavailable_is_503(client: Client, settings: t.Any, fake: FakePomerium) -> None:
    # A JWKS URL on a loopback port where nothing listens: the keys cannot be had.
    settings.POMERIUM = {"AUDIENCE": fake.audience, "TIMEOUT": 1,
                         "JWKS_URL": "http://127.0.0.1:9/.well-known/pomerium/jwks.json"}
    response = client.get("/whoami", **token_meta(fake), **JSON)
    assert response.status_code == 503
    assert response.json()["reason"] == "keys_unavailable"
    assert response["Retry-After"] == "5"


@pytest.mark.parametrize("header", [
    pytest.param("HTTP_X_POMERIUM_CLAIM_EMAIL", id="dash"),
    pytest.param("HTTP_X_POMERIUM_CLAIM_GROUPS", id="groups"),
])
@pytest.mark.parametrize("path", [
    pytest.param("/whoami", id="verified"), pytest.param("/healthz", id="exempt")])
def test_forged_claim_headers_never_reach_a_view(client: Client, site: t.Any,
                                                 fake: FakePomerium, header: str,
                                                 path: str) -> None:
    site(EXEMPT=["/healthz"])
    response = client.get(path, **{header: "admin@example.com"}, **token_meta(fake))
    assert response.status_code == 200
    assert response.json()["claim_headers"] == []
    assert response.json()["header_names"] == []


def test_claim_header_with_underscore_spelling_is_stripped(site: t.Any,
                                                           fake: FakePomerium) -> None:
    # X-Pomerium_Claim-Email and X-Pomerium-Claim-Email share one META key; a WSGI
    # server that lets the underscore through delivers it under that key: stripped.
    client = Client(headers={"X-Pomerium_Claim_Email": "root@example.com"})
    response = client.get("/whoami", **token_meta(fake))
    assert response.json()["claim_headers"] == []


def test_request_headers_cached_before_the_middleware_are_dropped(
        site: t.Any, fake: FakePomerium, settings: t.Any) -> None:
    settings.MIDDLEWARE = ["tests.adapters.django_site.middleware.ReadHeadersFirst",
                           *settings.MIDDLEWARE]
    response = Client().get("/whoami", HTTP_X_POMERIUM_CLAIM_EMAIL="x@example.com",
                            **token_meta(fake))
    assert response.json()["header_names"] == []


def test_optional_mode_lets_anonymous_through(client: Client, site: t.Any) -> None:
    site(OPTIONAL=True)
    response = client.get("/whoami")
    assert response.status_code == 200
    assert response.json() == {"identity": None, "user": None, "staff": False,
                               "claim_headers": [], "header_names": []}
    assert client.get("/identity-required", **JSON).status_code == 401


@pytest.mark.parametrize("path", [pytest.param("/healthz", id="exact"),
                                  pytest.param("/healthz/../whoami", id="dot-segments")])
def test_exempt_paths(client: Client, site: t.Any, path: str) -> None:
    site(EXEMPT="/healthz")
    response = client.get(path, **JSON)
    if path == "/healthz":
        assert response.status_code == 200 and response.json()["identity"] is None
    else:
        assert response.status_code == 401


@pytest.mark.parametrize("how", [pytest.param("optional", id="optional"),
                                 pytest.param("exempt", id="exempt")])
def test_session_cookie_never_authenticates_a_tokenless_request(
        client: Client, site: t.Any, fake: FakePomerium, how: str) -> None:
    """Log in through the admin's login form (a session), then send no token."""
    get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    site(OPTIONAL=True) if how == "optional" else site(EXEMPT=["/healthz", "/admin/login"])
    response = client.post("/admin/login/", {"username": "root", "password": "pw",
                                             "next": "/admin/"})
    assert response.status_code == 302 and "sessionid" in response.cookies
    path = "/whoami" if how == "optional" else "/healthz"
    assert client.get(path).json()["user"] is None
    # The admin itself does not accept the session either.
    admin = client.get("/admin/")
    assert admin.status_code in (302, 401)


def test_session_login_is_not_kept_across_tokens(client: Client, site: t.Any,
                                                 fake: FakePomerium) -> None:
    get_user_model().objects.create_user("session@example.com")
    site(OPTIONAL=True)
    client.get("/login-in-session", **token_meta(fake, "session@example.com"))
    assert client.get("/whoami").json()["user"] is None
    assert client.get("/whoami", **token_meta(fake)).json()["user"] == "ada@example.com"


def test_cors_preflight_passes_only_when_enabled(client: Client, site: t.Any) -> None:
    preflight = {"HTTP_ORIGIN": "https://web.example.com",
                 "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
                 "HTTP_X_POMERIUM_CLAIM_EMAIL": "x@example.com"}
    assert client.options("/whoami", **preflight).status_code == 401
    site(CORS_PREFLIGHT=True)
    response = client.options("/whoami", **preflight)
    assert response.status_code == 200
    # Not a preflight: verified as usual.
    assert client.options("/whoami", HTTP_ORIGIN="https://web.example.com").status_code == 401
    assert client.get("/whoami", **preflight).status_code == 401


def test_signals_are_sent(client: Client, site: t.Any, fake: FakePomerium) -> None:
    seen: list[tuple[str, t.Any]] = []

    def on_verified(sender: t.Any, identity: Identity, environ: t.Any) -> None:
        seen.append(("verified", identity.email))

    def on_failed(sender: t.Any, error: VerificationError, environ: t.Any) -> None:
        seen.append(("failed", error.reason))

    with identity_verified.connected_to(on_verified), \
            verification_failed.connected_to(on_failed):
        client.get("/whoami", **token_meta(fake))
        client.get("/whoami")
    assert seen == [("verified", "ada@example.com"), ("failed", "missing")]


def test_no_backend_leaves_request_user_to_django(client: Client, site: t.Any,
                                                  fake: FakePomerium, settings: t.Any) -> None:
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    response = Client().get("/whoami", **token_meta(fake))
    assert response.json()["identity"] == "ada@example.com"
    assert response.json()["user"] is None
    assert not get_user_model().objects.exists()


def test_middleware_before_authentication_middleware_is_refused(
        site: t.Any, fake: FakePomerium, settings: t.Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.MIDDLEWARE = ["django_pomerium.middleware.PomeriumMiddleware",
                           "django.contrib.sessions.middleware.SessionMiddleware",
                           "django.contrib.auth.middleware.AuthenticationMiddleware"]
    with pytest.raises(ImproperlyConfigured, match="after"):
        Client().get("/whoami", **token_meta(fake))


def run(coroutine_function: t.Callable[[], t.Awaitable[t.Any]]) -> t.Any:
    return async_to_sync(coroutine_function)()


class TestAsync:
    """The same middleware under Django's ASGI handler (AsyncClient)."""

    def test_verified(self, site: t.Any, fake: FakePomerium) -> None:
        async def scenario() -> None:
            client = AsyncClient()
            headers = {**fake.headers("ada@example.com", ["admins"]),
                       "X-Pomerium-Claim-Email": "x@example.com"}
            response = await client.get("/async/whoami", headers=headers)
            body = json.loads(response.content)
            assert response.status_code == 200
            assert body["user"] == body["auser"] == "ada@example.com"
            assert body["claim_headers"] == []

        run(scenario)

    def test_refused(self, site: t.Any) -> None:
        async def scenario() -> None:
            response = await AsyncClient().get("/async/whoami",
                                              headers={"Accept": "application/json"})
            assert response.status_code == 401
            assert json.loads(response.content)["reason"] == "missing"

        run(scenario)

    def test_optional_is_anonymous(self, site: t.Any) -> None:
        async def scenario() -> None:
            site(OPTIONAL=True)
            response = await AsyncClient().get("/async/whoami")
            assert json.loads(response.content)["auser"] is None

        run(scenario)

    def test_async_decorated_view(self, site: t.Any, fake: FakePomerium) -> None:
        async def scenario() -> None:
            client = AsyncClient()
            ok = await client.get("/async/admins", headers=fake.headers(groups=["admins"]))
            denied = await client.get("/async/admins", headers=fake.headers(groups=["staff"]))
            assert ok.status_code == 200 and denied.status_code == 403

        run(scenario)

    def test_keys_are_fetched_off_the_event_loop_and_verified_inline_once_held(
        self, settings: t.Any, fake: FakePomerium, clock: Clock
    ) -> None:
        # Cold keys: the fetch runs in a worker thread. Held keys: verified on the loop's
        # own thread, without a thread hop per request.
        threads: list[int] = []

        def on_verified(sender: object, **extra: object) -> None:
            threads.append(threading.get_ident())

        with JWKSServer(lambda headers: jwks_answer(fake.jwks)) as server:
            settings.POMERIUM = {"VERIFIER": fake.verifier(jwks_url=server.url)}

            async def scenario() -> int:
                for _ in range(3):
                    response = await AsyncClient().get(
                        "/async/whoami", headers=fake.headers("ada@example.com"))
                    assert response.status_code == 200
                return threading.get_ident()

            identity_verified.connect(on_verified)
            try:
                loop_thread = run(scenario)
            finally:
                identity_verified.disconnect(on_verified)
            assert server.requests == 1
        assert len(threads) == 3
        assert threads[0] != loop_thread
        assert threads[1:] == [loop_thread, loop_thread]
