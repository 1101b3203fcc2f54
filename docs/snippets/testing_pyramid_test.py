# test_myapp.py
import pytest
from myapp import PRODUCTION, main
from webtest import TestApp


@pytest.fixture
def app(pomerium):
    # A ready verifier wins over the production verifier settings (and POMERIUM_*).
    return TestApp(main({}, **PRODUCTION, **{"pomerium.verifier": pomerium.verifier()}))


def test_home(app, pomerium):
    assert app.get("/", headers=pomerium.headers("ada@example.com")).text == "ada@example.com"


def test_admin_needs_the_group(app, pomerium):
    app.get("/admin", headers=pomerium.headers(groups=["admins"]), status=200)
    app.get("/admin", headers=pomerium.headers(groups=["staff"]), status=403)
    app.get("/admin", status=401)
