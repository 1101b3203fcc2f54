# test_myapp.py
import pytest
from myapp import create_app


@pytest.fixture
def client(pomerium):
    app = create_app(verifier=pomerium.verifier())  # the fake's keys, the app's audience
    return app.test_client()


def test_home(client, pomerium):
    response = client.get("/", headers=pomerium.headers("ada@example.com"))
    assert response.json == {"email": "ada@example.com"}


def test_admin_needs_the_group(client, pomerium):
    assert client.get("/admin", headers=pomerium.headers(groups=["admins"])).status_code == 200
    assert client.get("/admin", headers=pomerium.headers(groups=["staff"])).status_code == 403


def test_no_token_is_401(client):
    response = client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.json["reason"] == "missing"
