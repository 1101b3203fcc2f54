# test_myapp.py
import pytest
from myapp import create_app
from werkzeug.test import Client


@pytest.fixture
def client(pomerium):
    return Client(create_app(pomerium.verifier()))


def test_hello(client, pomerium):
    assert client.get("/", headers=pomerium.headers("ada@example.com")).text == (
        "Hello, ada@example.com")


def test_admin_needs_the_group(client, pomerium):
    assert client.get("/admin", headers=pomerium.headers(groups=["admins"])).status_code == 200
    assert client.get("/admin", headers=pomerium.headers(groups=["staff"])).status_code == 403
    assert client.get("/admin").status_code == 401


def test_as_configured_against_a_served_jwks(pomerium, monkeypatch):
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)  # the audience is in the code
        response = Client(create_app()).get("/", headers=pomerium.headers("ada@example.com"))
    assert response.status_code == 200
