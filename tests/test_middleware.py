"""PomeriumMiddleware: environ, answers, modes, header hygiene."""

from __future__ import annotations

import json
import typing as t

import pytest
from werkzeug.test import Client

from pomerium_wsgi import (
    ConfigurationError,
    Identity,
    PomeriumMiddleware,
    get_error,
    get_identity,
)
from pomerium_wsgi.testing import FakePomerium

from .conftest import free_port


def echo_app(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
    """Reports what the app can see of the request."""
    identity = get_identity(environ)
    error = get_error(environ)
    body = {
        "email": identity.email if identity else None,
        "error": error.reason if error else None,
        "remote_user": environ.get("REMOTE_USER"),
        "claim_headers": sorted(k for k in environ if k.startswith("HTTP_X_POMERIUM_CLAIM")),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


@pytest.fixture
def client(pomerium: FakePomerium) -> Client:
    return Client(PomeriumMiddleware(echo_app, pomerium.verifier()))


def test_valid_token_reaches_app_with_identity(client: Client, pomerium: FakePomerium) -> None:
    response = client.get("/", headers=pomerium.headers("alice@example.com"))
    assert response.status_code == 200
    assert response.json == {"email": "alice@example.com", "error": None,
                             "remote_user": "alice@example.com", "claim_headers": []}


def test_environ_holds_identity_object(pomerium: FakePomerium) -> None:
    seen: dict[str, t.Any] = {}

    def app(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
        seen.update(environ)
        start_response("204 No Content", [])
        return []

    Client(PomeriumMiddleware(app, pomerium.verifier())).get("/", headers=pomerium.headers())
    assert isinstance(seen["pomerium.identity"], Identity)
    assert seen["pomerium.error"] is None


ACCEPT_CASES = {
    "no-accept": (None, "text/plain; charset=utf-8"),
    "any": ("*/*", "text/plain; charset=utf-8"),
    "html": ("text/html,application/xhtml+xml,*/*;q=0.8", "text/html; charset=utf-8"),
    "json": ("application/json", "application/problem+json"),
    "problem-json": ("application/problem+json", "application/problem+json"),
    "json-preferred": ("application/json, text/plain;q=0.5", "application/problem+json"),
    "text-preferred": ("text/plain, application/json;q=0.5", "text/plain; charset=utf-8"),
}


@pytest.mark.parametrize("accept, content_type", list(ACCEPT_CASES.values()),
                         ids=list(ACCEPT_CASES))
def test_rejection_format_follows_accept(accept: str | None, content_type: str,
                                         client: Client, pomerium: FakePomerium) -> None:
    headers = {"Accept": accept} if accept else {}
    token = pomerium.token(aud="other.example.com")
    response = client.get("/", headers={**headers, "X-Pomerium-Jwt-Assertion": token})
    assert response.status_code == 401
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" in response.headers
    body = response.get_data(as_text=True)
    assert token not in body and token.split(".")[2] not in body
    if content_type == "application/problem+json":
        problem = json.loads(body)
        assert problem["status"] == 401 and problem["reason"] == "audience"
        assert problem["title"] == "Unauthorized" and problem["detail"]
    elif content_type.startswith("text/html"):
        assert "<code>audience</code>" in body and "through Pomerium" in body
    else:
        assert "reason: audience" in body and "through Pomerium" in body


@pytest.mark.parametrize(
    "headers, reason",
    [({}, "missing"), ({"X-Pomerium-Jwt-Assertion": ""}, "missing"),
     ({"X-Pomerium-Jwt-Assertion": "garbage"}, "malformed")],
    ids=["absent", "empty", "garbage"],
)
def test_missing_and_malformed(headers: dict[str, str], reason: str, client: Client) -> None:
    response = client.get("/", headers={"Accept": "application/json", **headers})
    assert response.status_code == 401 and response.json["reason"] == reason


def test_keys_unavailable_is_503(pomerium: FakePomerium) -> None:
    url = f"http://127.0.0.1:{free_port()}/.well-known/pomerium/jwks.json"
    client = Client(PomeriumMiddleware(echo_app, pomerium.verifier(jwks_url=url, timeout=1)))
    response = client.get("/", headers={**pomerium.headers(), "Accept": "application/json"})
    assert response.status_code == 503
    assert response.json["reason"] == "keys_unavailable"
    assert response.headers["Retry-After"] and response.headers["Cache-Control"] == "no-store"


def test_unverified_claim_headers_are_removed(client: Client, pomerium: FakePomerium) -> None:
    spoof = {"X-Pomerium-Claim-Email": "admin@example.com",
             "X-Pomerium-Claim-Groups": "admins"}
    response = client.get("/", headers={**spoof, **pomerium.headers()})
    assert response.json["claim_headers"] == []
    optional = Client(PomeriumMiddleware(echo_app, pomerium.verifier(), optional=True,
                                         exempt=["/healthz"]))
    assert optional.get("/", headers=spoof).json["claim_headers"] == []
    assert optional.get("/healthz", headers=spoof).json["claim_headers"] == []


def test_optional_mode_lets_anonymous_through(pomerium: FakePomerium) -> None:
    client = Client(PomeriumMiddleware(echo_app, pomerium.verifier(), optional=True))
    assert client.get("/").json == {"email": None, "error": "missing", "remote_user": None,
                                    "claim_headers": []}
    bad = client.get("/", headers=pomerium.headers(iss="evil.example.com"))
    assert bad.status_code == 200 and bad.json["error"] == "issuer"
    good = client.get("/", headers=pomerium.headers("a@example.com"))
    assert good.json["email"] == "a@example.com" and good.json["error"] is None


@pytest.mark.parametrize(
    "path, exempt",
    [("/healthz", True), ("/healthz/", True), ("/healthz/deep", True), ("/healthzz", False),
     ("/", False), ("/static/app.js", True), ("/statics", False)],
    ids=["exact", "slash", "below", "sibling", "root", "static", "static-sibling"],
)
def test_exempt_prefixes(path: str, exempt: bool, pomerium: FakePomerium) -> None:
    client = Client(PomeriumMiddleware(echo_app, pomerium.verifier(),
                                       exempt=["/healthz", "/static/"]))
    assert client.get(path).status_code == (200 if exempt else 401)


def test_custom_header_and_remote_user(pomerium: FakePomerium) -> None:
    client = Client(PomeriumMiddleware(echo_app, pomerium.verifier(),
                                       header="X-Identity", remote_user="sub"))
    token = pomerium.token("bob@example.com", sub="bob-id", user="bob-id")
    assert client.get("/", headers={"X-Pomerium-Jwt-Assertion": token}).status_code == 401
    response = client.get("/", headers={"X-Identity": token})
    assert response.json["remote_user"] == "bob-id"
    plain = Client(PomeriumMiddleware(echo_app, pomerium.verifier(), remote_user=None))
    assert plain.get("/", headers=pomerium.headers()).json["remote_user"] is None


@pytest.mark.parametrize(
    "options",
    [{"exempt": ["healthz"]}, {"exempt": [5]}, {"exempt": "/"}, {"exempt": ["/healthz", "//"]},
     {"header": ""}, {"remote_user": ["email"]}, {"remote_user": ""}],
    ids=["exempt-relative", "exempt-not-str", "exempt-root", "exempt-root-slashes",
         "empty-header", "remote-user-list", "remote-user-empty"],
)
def test_middleware_configuration_errors(options: dict[str, t.Any],
                                         pomerium: FakePomerium) -> None:
    with pytest.raises(ConfigurationError):
        PomeriumMiddleware(echo_app, pomerium.verifier(), **options)
    with pytest.raises(ConfigurationError):
        PomeriumMiddleware(echo_app, "app.example.com")  # type: ignore[arg-type]


def test_exempt_given_as_one_string(pomerium: FakePomerium) -> None:
    client = Client(PomeriumMiddleware(echo_app, pomerium.verifier(), exempt="/healthz"))
    assert client.get("/healthz").status_code == 200


def test_three_line_quick_start(pomerium: FakePomerium) -> None:
    with pomerium.serve() as url:
        from pomerium_wsgi import PomeriumMiddleware, Verifier

        app = PomeriumMiddleware(echo_app, Verifier("app.example.com", jwks_url=url))
        response = Client(app).get("/", headers=pomerium.headers("q@example.com"))
        assert response.json["email"] == "q@example.com"


def test_authenticate_records_outcome_without_answering(pomerium: FakePomerium) -> None:
    middleware = PomeriumMiddleware(echo_app, pomerium.verifier())
    environ: dict[str, t.Any] = {"HTTP_X_POMERIUM_CLAIM_EMAIL": "spoof@example.com",
                                 **pomerium.environ("a@example.com")}
    identity = middleware.authenticate(environ)
    assert identity is not None and identity.email == "a@example.com"
    assert get_identity(environ) is identity and get_error(environ) is None
    assert "HTTP_X_POMERIUM_CLAIM_EMAIL" not in environ
    assert environ["REMOTE_USER"] == "a@example.com"
    refused: dict[str, t.Any] = {"HTTP_X_POMERIUM_JWT_ASSERTION": "x.y.z"}
    assert middleware.authenticate(refused) is None
    assert get_identity(refused) is None and get_error(refused).reason == "malformed"


def test_claim_headers_removed_even_with_odd_environ_keys(pomerium: FakePomerium) -> None:
    middleware = PomeriumMiddleware(echo_app, pomerium.verifier())
    environ: dict[t.Any, t.Any] = {1: "not a str key", "HTTP_X_POMERIUM_CLAIM_GROUPS": "admins",
                                   **pomerium.environ()}
    assert middleware.authenticate(environ) is not None
    assert "HTTP_X_POMERIUM_CLAIM_GROUPS" not in environ and environ[1] == "not a str key"


@pytest.mark.parametrize(
    "path",
    ["/healthz/../admin", "/healthz/./x", "/healthz//admin", "/healthz/a/../../admin",
     "/healthz/.."],
    ids=["dotdot", "dot", "empty-segment", "deep-dotdot", "trailing-dotdot"],
)
def test_dot_segments_are_never_exempt(path: str, pomerium: FakePomerium) -> None:
    client = Client(PomeriumMiddleware(echo_app, pomerium.verifier(), exempt=["/healthz"]))
    assert client.get(path).status_code == 401
    assert client.get(path, headers=pomerium.headers()).status_code == 200


@pytest.mark.parametrize(
    ("path", "exempt"),
    [("/healthz/..%2Fadmin", False), ("/healthz/%2e%2e/admin", False),
     ("/healthz/..\\admin", False), ("/healthz/%2F%2Fadmin", False),
     ("/healthz/a%20b", True), ("/healthz/100%25", True)],
    ids=["encoded-slash", "encoded-dots", "backslash", "encoded-empty-segment",
         "encoded-space", "encoded-percent"],
)
def test_segments_that_decode_to_dot_segments_are_never_exempt(
        path: str, exempt: bool, pomerium: FakePomerium) -> None:
    # PATH_INFO as a server hands it over (already decoded once): an app or file server
    # that decodes again, or reads \\ as a separator, would resolve these to /admin.
    client = Client(PomeriumMiddleware(echo_app, pomerium.verifier(), exempt=["/healthz"]))
    response = client.get("/", environ_overrides={"PATH_INFO": path})
    assert response.status_code == (200 if exempt else 401)


@pytest.mark.parametrize("accept", ["application/json, text/plain, */*",
                                    "application/problem+json, text/plain"],
                         ids=["axios-default", "problem-json-tie"])
def test_json_wins_a_tie_with_text(accept: str, client: Client) -> None:
    response = client.get("/", headers={"Accept": accept})
    assert response.headers["Content-Type"] == "application/problem+json"


def test_authenticate_with_a_per_call_sender(pomerium: FakePomerium) -> None:
    from pomerium_wsgi.signals import identity_verified

    middleware = PomeriumMiddleware(echo_app, pomerium.verifier())
    senders: list[object] = []
    registry = object()
    with identity_verified.connected_to(lambda sender, **kw: senders.append(sender)):
        middleware.authenticate(pomerium.environ(), sender=registry)
        middleware.authenticate(pomerium.environ())
    assert senders == [registry, middleware]


def test_strip_claim_headers_is_public() -> None:
    from pomerium_wsgi import strip_claim_headers

    environ = {"HTTP_X_POMERIUM_CLAIM_EMAIL": "x", "HTTP_HOST": "h"}
    strip_claim_headers(environ)
    assert environ == {"HTTP_HOST": "h"}


PREFLIGHT = {"Origin": "https://web.example.com", "Access-Control-Request-Method": "POST"}

PREFLIGHT_CASES = {
    "preflight": ("OPTIONS", PREFLIGHT, True),
    "preflight-with-request-headers": (
        "OPTIONS", {**PREFLIGHT, "Access-Control-Request-Headers": "content-type"}, True),
    "options-without-origin": ("OPTIONS", {"Access-Control-Request-Method": "POST"}, False),
    "options-without-request-method": ("OPTIONS", {"Origin": "https://web.example.com"},
                                       False),
    "options-with-empty-origin": ("OPTIONS", {**PREFLIGHT, "Origin": " "}, False),
    "plain-options": ("OPTIONS", {}, False),
    "get-with-cors-headers": ("GET", PREFLIGHT, False),
    "post-with-cors-headers": ("POST", PREFLIGHT, False),
    "lower-case-options": ("options", PREFLIGHT, False),
}


@pytest.mark.parametrize(("method", "headers", "passes"), list(PREFLIGHT_CASES.values()),
                         ids=list(PREFLIGHT_CASES))
def test_cors_preflight_passes_unverified_only_when_enabled(
    method: str, headers: dict[str, str], passes: bool, pomerium: FakePomerium
) -> None:
    forged = {"X-Pomerium-Claim-Email": "admin@example.com"}
    enabled = Client(PomeriumMiddleware(echo_app, pomerium.verifier(), cors_preflight=True))
    response = enabled.open("/api/items", method=method, headers={**headers, **forged})
    if passes:
        assert response.status_code == 200
        assert response.json == {"email": None, "error": None, "remote_user": None,
                                 "claim_headers": []}
    else:
        assert response.status_code == 401
    # Off by default: every request, preflight or not, is verified.
    default = Client(PomeriumMiddleware(echo_app, pomerium.verifier()))
    assert default.open("/api/items", method=method, headers=headers).status_code == 401


def test_cors_preflight_with_a_token_still_has_no_identity(pomerium: FakePomerium) -> None:
    client = Client(PomeriumMiddleware(echo_app, pomerium.verifier(), cors_preflight=True))
    response = client.open("/", method="OPTIONS", headers={**PREFLIGHT, **pomerium.headers()})
    assert response.status_code == 200 and response.json is not None
    assert response.json["email"] is None and response.json["remote_user"] is None
    # Other requests with the option on are verified as usual.
    assert client.get("/", headers=pomerium.headers()).json["email"] == "user@example.com"


@pytest.mark.parametrize(
    ("method", "origin", "request_method", "expected"),
    [("OPTIONS", "https://a.example", "GET", True), ("OPTIONS", None, "GET", False),
     ("OPTIONS", "https://a.example", None, False), ("OPTIONS", "", "GET", False),
     ("GET", "https://a.example", "GET", False)],
    ids=["preflight", "no-origin", "no-request-method", "empty-origin", "not-options"],
)
def test_is_cors_preflight(method: str, origin: str | None, request_method: str | None,
                           expected: bool) -> None:
    from pomerium_wsgi.middleware import is_cors_preflight

    assert is_cors_preflight(method, origin, request_method) is expected


def test_authenticate_under_no_fetch_leaves_the_fetch_to_the_caller(
    fake: FakePomerium,
) -> None:
    # An event loop's adapter verifies inline under no_fetch(); a needed fetch is not a
    # refusal: nothing is recorded as an error and no signal is sent.
    from pomerium_wsgi.errors import FetchRequired
    from pomerium_wsgi.keys import no_fetch
    from pomerium_wsgi.signals import verification_failed

    from .helpers import JWKSServer, jwks_answer

    failures: list[object] = []

    def on_failed(sender: object, **extra: object) -> None:
        failures.append(extra["error"])

    with JWKSServer(lambda headers: jwks_answer(fake.jwks)) as server:
        gate = PomeriumMiddleware(lambda e, s: [], fake.verifier(jwks_url=server.url))
        environ = {"HTTP_X_POMERIUM_JWT_ASSERTION": fake.token()}
        verification_failed.connect(on_failed)
        try:
            with no_fetch(), pytest.raises(FetchRequired):
                gate.authenticate(environ)
            assert server.requests == 0 and failures == []
            assert gate.authenticate(environ) is not None  # outside: fetched, verified
            with no_fetch():
                assert gate.authenticate(dict(environ)) is not None  # keys held: inline
        finally:
            verification_failed.disconnect(on_failed)
        assert server.requests == 1 and failures == []
