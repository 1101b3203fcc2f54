# test_app.py
import importlib

from werkzeug.test import Client

from pomerium_wsgi import PomeriumMiddleware


def test_hello_greets_the_verified_user(pomerium):
    # Wrap the unwrapped app with a verifier holding the fake's keys.
    from app import hello

    client = Client(PomeriumMiddleware(hello, pomerium.verifier()))
    ok = client.get("/", headers=pomerium.headers("ada@example.com", ["admins"]))
    assert ok.text == "Hello, ada@example.com\n"
    expired = client.get("/", headers=pomerium.headers(exp=1_000_000, iat=999_700))
    assert expired.status_code == 401
    assert client.get("/").status_code == 401  # no token


def test_the_app_as_configured(pomerium, monkeypatch):
    # Or point the app's own settings at a JWKS the fake serves, then import it.
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)
        module = importlib.reload(importlib.import_module("app"))
        response = Client(module.app).get("/", headers=pomerium.headers("ada@example.com"))
    assert response.text == "Hello, ada@example.com\n"
