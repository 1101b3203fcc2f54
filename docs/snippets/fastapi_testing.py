# test_api.py
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_pomerium import CurrentIdentity, Pomerium, current_identity, require_group
from pomerium_wsgi.testing import FakePomerium


def create_app(**pomerium_options):
    # Your app factory: the same routes, whatever verifies the tokens.
    app = FastAPI()
    Pomerium(app, **pomerium_options)

    @app.get("/me")
    async def me(identity: CurrentIdentity) -> str:
        return identity.email

    @app.get("/admin", dependencies=[Depends(require_group("admins"))])
    async def admin() -> str:
        return "admin"

    return app


def test_with_real_tokens(pomerium: FakePomerium):
    # The whole stack: the middleware verifies tokens the fake signs.
    client = TestClient(create_app(verifier=pomerium.verifier()))
    ok = client.get("/admin", headers=pomerium.headers("ada@example.com", ["admins"]))
    assert ok.status_code == 200
    denied = client.get("/admin", headers=pomerium.headers("bob@example.com", ["staff"]))
    assert denied.status_code == 403
    assert client.get("/me").status_code == 401


def test_with_an_overridden_identity(pomerium: FakePomerium):
    # Route logic alone: optional mode lets requests without a token in, and the
    # identity comes from a dependency override (requirements still check it).
    app = create_app(verifier=pomerium.verifier(), optional=True)
    ada = pomerium.identity("ada@example.com", ["admins"])
    app.dependency_overrides[current_identity] = lambda: ada
    client = TestClient(app)
    assert client.get("/me").json() == "ada@example.com"
    assert client.get("/admin").status_code == 200
