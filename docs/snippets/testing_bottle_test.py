# test_myapp.py
import importlib
import json

import pytest
from webtest import TestApp


@pytest.fixture
def app(pomerium, monkeypatch):
    # The code names the audience only, so the keys come from the environment.
    monkeypatch.setenv("POMERIUM_JWKS", json.dumps(pomerium.jwks))
    import myapp

    return TestApp(importlib.reload(myapp).app)  # installed now, with the fake's keys


def test_home(app, pomerium):
    response = app.get("/", headers=pomerium.headers("ada@example.com"))
    assert response.json == {"email": "ada@example.com"}


def test_admin_needs_the_group(app, pomerium):
    app.get("/admin", headers=pomerium.headers(groups=["admins"]), status=200)
    app.get("/admin", headers=pomerium.headers(groups=["staff"]), status=403)
    app.get("/admin", status=401)
