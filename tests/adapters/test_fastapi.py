"""fastapi_pomerium: Pomerium(app), the dependencies, the OpenAPI scheme, settings from the
environment, plain Starlette apps, WebSockets, and the dependency-override test recipe.

Requests go through Starlette's TestClient (the real ASGI app in process), tokens come
from FakePomerium and from PyJWT.
"""

from __future__ import annotations

import json
import typing as t

import jwt as pyjwt
import pytest
from fastapi import APIRouter, Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.websockets import WebSocketDisconnect

import pomerium_wsgi
from fastapi_pomerium import (
    SCHEME_NAME,
    CurrentIdentity,
    OptionalIdentity,
    Pomerium,
    current_identity,
    optional_identity,
    require_all_groups,
    require_claim,
    require_email,
    require_email_domain,
    require_group,
    requires,
)
from pomerium_wsgi import ConfigurationError, Identity, get_identity
from pomerium_wsgi.asgi import PomeriumMiddleware
from pomerium_wsgi.signals import access_denied
from pomerium_wsgi.testing import FakePomerium

from ..helpers import Clock, JWKSServer


def build(fake: FakePomerium, **options: t.Any) -> FastAPI:
    """An API with one route per way of using the dependencies."""
    app = FastAPI(title="test", version="1")
    Pomerium(app, fake.verifier(), **options)

    @app.get("/me")
    async def me(identity: CurrentIdentity) -> dict[str, t.Any]:
        return {"email": identity.email, "groups": list(identity.groups)}

    @app.get("/maybe")
    async def maybe(identity: OptionalIdentity) -> dict[str, t.Any]:
        return {"email": identity.email if identity else None}

    @app.get("/admin", dependencies=[Depends(require_group("admins"))])
    async def admin() -> dict[str, str]:
        return {"area": "admin"}

    @app.get("/ops")
    async def ops(identity: Identity = Depends(require_all_groups("ops", "oncall"))) -> str:
        return identity.email

    router = APIRouter(prefix="/staff", dependencies=[Depends(require_email_domain("example.com"))])

    @router.get("/list")
    async def staff_list() -> list[str]:
        return ["ada"]

    app.include_router(router)

    @app.get("/healthz")
    async def healthz() -> str:
        return "ok"

    return app


def problem(response: t.Any) -> dict[str, t.Any]:
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    return t.cast(dict[str, t.Any], response.json())


JSON = {"Accept": "application/json"}


@pytest.mark.parametrize(
    ("path", "groups", "email", "status"),
    [("/me", [], "ada@example.com", 200), ("/admin", ["admins"], "ada@example.com", 200),
     ("/admin", ["staff"], "ada@example.com", 403), ("/ops", ["ops", "oncall"], "a@x.org", 200),
     ("/ops", ["ops"], "ada@example.com", 403), ("/staff/list", [], "ada@example.com", 200),
     ("/staff/list", [], "eve@example.org", 403)],
    ids=["identity", "group-in-route-dependencies", "group-missing", "all-groups-signature",
         "all-groups-missing-one", "router-domain", "router-other-domain"],
)
def test_dependencies(fake: FakePomerium, path: str, groups: list[str], email: str,
                      status: int) -> None:
    client = TestClient(build(fake))
    response = client.get(path, headers={**JSON, **fake.headers(email, groups)})
    assert response.status_code == status
    if status == 403:
        body = problem(response)
        assert body["reason"] == "forbidden" and body["detail"].startswith("access requires")
        assert "www-authenticate" not in response.headers
    elif path == "/ops":
        assert response.json() == email


def test_current_identity_is_the_verified_identity(fake: FakePomerium) -> None:
    client = TestClient(build(fake))
    response = client.get("/me", headers=fake.headers("ada@example.com", ["staff"]))
    assert response.json() == {"email": "ada@example.com", "groups": ["staff"]}


@pytest.mark.parametrize("accept", ["application/json", "text/plain"], ids=["json", "text"])
def test_missing_identity_is_401_with_www_authenticate(fake: FakePomerium, accept: str) -> None:
    client = TestClient(build(fake, optional=True))
    response = client.get("/admin", headers={"Accept": accept})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Pomerium realm="pomerium"'
    if accept == "application/json":
        assert problem(response)["reason"] == "missing"
    else:
        assert response.text.startswith("401 Unauthorized") and "(reason: missing)" in response.text


def test_optional_mode_refusal_names_the_tokens_fault(fake: FakePomerium, clock: Clock) -> None:
    client = TestClient(build(fake, optional=True))
    expired = fake.token(iat=int(clock()) - 900, exp=int(clock()) - 600)
    response = client.get("/me", headers={**JSON, "X-Pomerium-Jwt-Assertion": expired})
    assert response.status_code == 401 and problem(response)["reason"] == "expired"
    assert expired not in response.text


def test_optional_identity(fake: FakePomerium) -> None:
    client = TestClient(build(fake, optional=True))
    assert client.get("/maybe").json() == {"email": None}
    assert client.get("/maybe", headers=fake.headers("ada@example.com")).json() == {
        "email": "ada@example.com"}


def test_required_mode_refuses_before_any_route_and_exempts(fake: FakePomerium) -> None:
    client = TestClient(build(fake, exempt=["/healthz"]))
    response = client.get("/maybe", headers=JSON)
    assert response.status_code == 401 and problem(response)["reason"] == "missing"
    assert client.get("/healthz").json() == "ok"


def test_keys_unavailable_through_a_dependency_is_503(fake: FakePomerium) -> None:
    with JWKSServer(lambda headers: (500, {}, b"down")) as server:
        app = FastAPI()
        Pomerium(app, fake.verifier(jwks_url=server.url), optional=True)

        @app.get("/me")
        async def me(identity: CurrentIdentity) -> str:
            return identity.email

        response = TestClient(app).get("/me", headers={**JSON, **fake.headers()})
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert problem(response)["reason"] == "keys_unavailable"


def test_combined_requirements(fake: FakePomerium) -> None:
    app = FastAPI()
    Pomerium(app, fake.verifier())
    either = require_group("admins") | require_email("boss@example.com")
    both = pomerium_wsgi.require_group("staff") & require_claim("department", "finance")

    @app.get("/either", dependencies=[Depends(either)])
    async def get_either() -> str:
        return "ok"

    @app.get("/both", dependencies=[Depends(both), Depends(requires(
        pomerium_wsgi.require_identity()))])
    async def get_both() -> str:
        return "ok"

    client = TestClient(app)

    def status(path: str, **claims: t.Any) -> int:
        return client.get(path, headers=fake.headers(**claims)).status_code

    assert status("/either", email="boss@example.com") == 200
    assert status("/either", groups=["admins"]) == 200
    assert status("/either") == 403
    assert status("/both", groups=["staff"], department="finance") == 200
    assert status("/both", groups=["staff"], department="sales") == 403
    assert str(either) == "(membership of group 'admins' or the email address 'boss@example.com')"


def test_access_denied_signal_names_the_app_and_requirement(fake: FakePomerium) -> None:
    app = build(fake)
    seen: list[tuple[object, str, str]] = []

    def receiver(sender: object, identity: Identity, requirement: t.Any, environ: t.Any) -> None:
        seen.append((sender, identity.email, str(requirement)))

    with access_denied.connected_to(receiver):
        TestClient(app).get("/admin", headers=fake.headers("bob@example.com"))
    assert seen == [(app, "bob@example.com", "membership of group 'admins'")]


def test_pyjwt_minted_token_is_accepted(fake: FakePomerium) -> None:
    """A token signed by another library, with Pomerium's header and claims."""
    key = fake.signing_key
    token = pyjwt.encode(fake.claims("ada@example.com", ["admins"]), key.private_pem(),
                         algorithm="ES256", headers={"kid": key.kid})
    client = TestClient(build(fake))
    response = client.get("/admin", headers={"X-Pomerium-Jwt-Assertion": token})
    assert response.status_code == 200


# -- the OpenAPI document ---------------------------------------------------------------------

SCHEME = {"type": "apiKey", "in": "header", "name": "X-Pomerium-Jwt-Assertion",
          "description": "Pomerium's signed identity JWT. Pomerium adds it to every request "
                         "it forwards; the app verifies it."}


def _operation(summary: str, operation_id: str, secured: bool) -> dict[str, t.Any]:
    operation: dict[str, t.Any] = {
        "summary": summary, "operationId": operation_id,
        "responses": {"200": {"description": "Successful Response",
                              "content": {"application/json": {"schema": {}}}}}}
    if secured:
        operation["security"] = [{SCHEME_NAME: []}]
    return operation


def _snapshot_app(fake: FakePomerium, **options: t.Any) -> FastAPI:
    app = FastAPI(title="snapshot", version="1")
    Pomerium(app, fake.verifier(), **options)

    @app.get("/public")
    async def public() -> None:
        return None

    @app.get("/admin", dependencies=[Depends(require_group("admins"))])
    async def admin() -> None:
        return None

    @app.get("/healthz")
    async def healthz() -> None:
        return None

    return app


@pytest.mark.parametrize(
    ("options", "secured"),
    [({"exempt": ["/healthz"]}, {"/public": True, "/admin": True, "/healthz": False}),
     ({"optional": True}, {"/public": False, "/admin": True, "/healthz": False})],
    ids=["required-mode", "optional-mode"],
)
def test_openapi_document_snapshot(fake: FakePomerium, options: dict[str, t.Any],
                                   secured: dict[str, bool]) -> None:
    document = TestClient(_snapshot_app(fake, **options)).get(
        "/openapi.json", headers=fake.headers()).json()
    assert document == {
        "openapi": document["openapi"],
        "info": {"title": "snapshot", "version": "1"},
        "paths": {
            "/public": {"get": _operation("Public", "public_public_get", secured["/public"])},
            "/admin": {"get": _operation("Admin", "admin_admin_get", secured["/admin"])},
            "/healthz": {"get": _operation("Healthz", "healthz_healthz_get",
                                           secured["/healthz"])},
        },
        "components": {"securitySchemes": {SCHEME_NAME: SCHEME}},
    }


def test_openapi_names_a_custom_header(fake: FakePomerium) -> None:
    app = _snapshot_app(fake, header="X-Identity")
    schemes = app.openapi()["components"]["securitySchemes"]
    assert schemes == {SCHEME_NAME: {**SCHEME, "name": "X-Identity"}}
    assert TestClient(app).get("/public", headers={"X-Identity": fake.token()}).status_code == 200


# -- settings ---------------------------------------------------------------------------------


def test_settings_left_out_come_from_the_environment(
    pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = pomerium  # on the real clock, as the verifier built from the environment is
    with fake.serve() as url:
        monkeypatch.setenv("POMERIUM_AUDIENCE", fake.audience)
        monkeypatch.setenv("POMERIUM_JWKS_URL", url)
        monkeypatch.setenv("POMERIUM_EXEMPT", "/healthz, /metrics")
        monkeypatch.setenv("POMERIUM_OPTIONAL", "no")
        app = FastAPI()
        pomerium = Pomerium(app)

        @app.get("/me")
        async def me(identity: CurrentIdentity) -> str:
            return identity.email

        client = TestClient(app)
        assert client.get("/me", headers=fake.headers("ada@example.com")).json() == (
            "ada@example.com")
        assert client.get("/healthz").status_code == 404  # exempt: reaches routing
        assert client.get("/me").status_code == 401
    assert pomerium.exempt == ("/healthz", "/metrics") and pomerium.optional is False
    assert app.state.pomerium is pomerium


def test_code_wins_and_a_ready_verifier_ignores_the_environment(
    fake: FakePomerium, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POMERIUM_AUDIENCE", "other.example.com")
    monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
    monkeypatch.setenv("POMERIUM_EXEMPT", "/everything")
    pomerium = Pomerium(FastAPI(), fake.verifier())
    assert pomerium.optional is False and pomerium.exempt == ()
    in_code = Pomerium(FastAPI(), audience=fake.audience, jwks=fake.jwks, optional=False)
    assert in_code.verifier.audiences == {fake.audience} and in_code.optional is False


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [({}, {}, "POMERIUM_AUDIENCE"),
     ({"audience": "app.example.com", "optional": "maybe"}, {}, "optional"),
     ({}, {"POMERIUM_AUDIENCE": "app.example.com", "POMERIUM_CORS_PREFLIGHT": "perhaps"},
      "POMERIUM_CORS_PREFLIGHT"),
     ({"audience": "app.example.com", "exempt": ["healthz"]}, {}, "start with '/'"),
     ({"audience": "app.example.com", "colour": "blue"}, {}, "colour")],
    ids=["no-audience", "bad-optional", "bad-env-boolean", "relative-exempt", "unknown-option"],
)
def test_bad_settings_fail_at_start_up(monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, t.Any],
                                       env: dict[str, str], message: str) -> None:
    for name in ("POMERIUM_AUDIENCE", "POMERIUM_JWKS_URL", "POMERIUM_JWKS", "POMERIUM_OPTIONAL",
                 "POMERIUM_EXEMPT", "POMERIUM_CORS_PREFLIGHT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        Pomerium(FastAPI(), **kwargs)


def test_a_verifier_and_verifier_options_are_exclusive(fake: FakePomerium) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        Pomerium(FastAPI(), fake.verifier(), audience="app.example.com")


# -- Starlette, WebSockets, failing closed ------------------------------------------------------


def test_plain_starlette_app_reads_the_scope(fake: FakePomerium) -> None:
    async def whoami(request: Request) -> JSONResponse:
        identity = get_identity(request.scope)
        return JSONResponse({"email": identity.email if identity else None})

    app = Starlette(routes=[Route("/", whoami)],
                    middleware=[Middleware(PomeriumMiddleware, verifier=fake.verifier())])
    client = TestClient(app)
    assert client.get("/", headers=fake.headers("ada@example.com")).json() == {
        "email": "ada@example.com"}
    assert client.get("/").status_code == 401

    other = Starlette(routes=[Route("/", whoami)])
    Pomerium(other, fake.verifier(), optional=True)  # no OpenAPI on Starlette: skipped
    assert TestClient(other).get("/").json() == {"email": None}


def _websocket_app(fake: FakePomerium, **options: t.Any) -> FastAPI:
    app = FastAPI()
    Pomerium(app, fake.verifier(), **options)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket,
                 identity: Identity = Depends(require_group("chat"))) -> None:
        await websocket.accept()
        await websocket.send_text(f"hello {identity.email}")
        await websocket.close()

    return app


def test_websocket_with_a_token_and_a_requirement(fake: FakePomerium) -> None:
    client = TestClient(_websocket_app(fake))
    with client.websocket_connect("/ws", headers=fake.headers("ada@example.com",
                                                              ["chat"])) as ws:
        assert ws.receive_text() == "hello ada@example.com"


@pytest.mark.parametrize(
    ("optional", "groups", "reason"),
    [(False, None, "missing"), (True, None, "missing"), (False, ["staff"], "forbidden")],
    ids=["middleware-refuses", "dependency-refuses-anonymous", "requirement-fails"],
)
def test_refused_websocket_is_closed_with_1008(fake: FakePomerium, optional: bool,
                                                groups: list[str] | None, reason: str) -> None:
    client = TestClient(_websocket_app(fake, optional=optional))
    headers = fake.headers(groups=groups) if groups is not None else {}
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
        "/ws", headers=headers
    ):
        pass  # pragma: no cover - the handshake is refused
    assert (refused.value.code, refused.value.reason) == (1008, reason)


def test_dependencies_without_the_middleware_fail_closed() -> None:
    app = FastAPI()

    @app.get("/me")
    async def me(identity: CurrentIdentity) -> str:
        return identity.email

    with pytest.raises(RuntimeError, match="nothing verifies"):
        TestClient(app).get("/me")


def test_dependency_override_recipe(fake: FakePomerium) -> None:
    """Unit tests of routes can skip tokens: override current_identity with an Identity."""
    app = FastAPI()

    @app.get("/admin", dependencies=[Depends(require_group("admins"))])
    async def admin(identity: CurrentIdentity) -> str:
        return identity.email

    @app.get("/maybe")
    async def maybe(identity: Identity | None = Depends(optional_identity)) -> str | None:
        return identity.email if identity else None

    admin_identity = fake.verifier().verify(fake.token("ada@example.com", ["admins"]))
    app.dependency_overrides[current_identity] = lambda: admin_identity
    app.dependency_overrides[optional_identity] = lambda: None
    client = TestClient(app)
    assert client.get("/admin").json() == "ada@example.com"
    assert client.get("/maybe").json() is None
    staff = fake.verifier().verify(fake.token("bob@example.com", ["staff"]))
    app.dependency_overrides[current_identity] = lambda: staff
    assert client.get("/admin").status_code == 403


def test_requires_needs_a_requirement() -> None:
    with pytest.raises(TypeError, match="Requirement"):
        requires("admins")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="combine"):
        require_group("a") | "b"  # type: ignore[operator]


def test_problem_body_has_no_token(fake: FakePomerium) -> None:
    token = fake.token(groups=["staff"])
    response = TestClient(build(fake)).get("/admin", headers={**JSON,
                                                               "X-Pomerium-Jwt-Assertion": token})
    assert response.status_code == 403 and token not in response.text
    assert json.loads(response.text)["status"] == 403


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_httpx_async_client_with_keys_fetched_over_http(anyio_backend: str) -> None:
    """httpx's ASGI transport in an async test: the first request fetches the keys."""
    import httpx

    fake = FakePomerium()
    with fake.serve() as url:
        app = FastAPI()
        Pomerium(app, audience=fake.audience, jwks_url=url)

        @app.get("/me")
        async def me(identity: CurrentIdentity) -> str:
            return identity.email

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/me", headers=fake.headers("ada@example.com"))
            refused = await client.get("/me")
    assert response.json() == "ada@example.com" and refused.status_code == 401
    assert fake.jwks_requests == 1
