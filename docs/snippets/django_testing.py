"""Testing a Django project: tokens from FakePomerium, sent by Django's test client."""

import pytest
from django.test import TestCase, override_settings

from pomerium_wsgi.testing import FakePomerium

fake = FakePomerium("app.example.com")


# With Django's test runner (manage.py test):
@override_settings(POMERIUM={"VERIFIER": fake.verifier()})
class ReportsTests(TestCase):
    def test_admin_sees_reports(self):
        response = self.client.get(
            "/reports", headers=fake.headers("ada@example.com", ["admins"]))
        self.assertEqual(response.status_code, 200)

    def test_others_are_forbidden(self):
        response = self.client.get("/reports", headers=fake.headers("bob@example.com"))
        self.assertEqual(response.status_code, 403)


# With pytest-django: a fixture (in conftest.py) sets the verifier ...
@pytest.fixture
def site(settings, pomerium):
    settings.POMERIUM = {"VERIFIER": pomerium.verifier()}
    return pomerium


# ... and tests send its tokens (the `pomerium` fixture comes with pomerium-wsgi's
# pytest plugin, installed with the package).
@pytest.mark.django_db
def test_me(client, site):
    response = client.get("/me", headers=site.headers("ada@example.com"))
    assert response.json() == {"email": "ada@example.com", "user": "ada@example.com"}


def test_no_token_is_401(client, site):
    assert client.get("/me").status_code == 401
