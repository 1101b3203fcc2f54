# test_app.py
import importlib

from werkzeug.test import Client

from pomerium_wsgi import PomeriumMiddleware


def test_admin_page(pomerium):
    # Wrap your unwrapped WSGI app with a verifier holding the fake's keys.
    from examples.wsgi.app import router

    app = PomeriumMiddleware(router, pomerium.verifier())
    client = Client(app)
    ok = client.get("/admin", headers=pomerium.headers("ada@example.com", ["admins"]))
    assert ok.status_code == 200
    denied = client.get("/admin", headers=pomerium.headers("bob@example.com", ["staff"]))
    assert denied.status_code == 403
    expired = client.get("/", headers=pomerium.headers(exp=1_000_000, iat=999_700))
    assert expired.status_code == 401


def test_the_app_as_configured(pomerium, monkeypatch):
    # Or point the app's own settings at a JWKS the fake serves, then import it.
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_AUDIENCE", pomerium.audience)
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)
        module = importlib.reload(importlib.import_module("examples.wsgi.app"))
        response = Client(module.app).get("/", headers={
            "Accept": "application/json", **pomerium.headers("ada@example.com")})
    assert response.json["email"] == "ada@example.com"
