"""The example's own tests: ``python examples/django/manage.py test examples.django.demo``.

Tokens come from a FakePomerium; ``POMERIUM["VERIFIER"]`` is its verifier (which also
makes the environment irrelevant to these tests).
"""

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import TestCase, override_settings

from pomerium_wsgi.testing import FakePomerium

fake = FakePomerium("app.example.com")


@override_settings(POMERIUM={**settings.POMERIUM, "VERIFIER": fake.verifier()})
class ExampleTests(TestCase):
    def get(self, path: str, *, groups: tuple[str, ...] = (), email: str = "ada@example.com",
            **extra: str):
        return self.client.get(path, headers=fake.headers(email, list(groups)), **extra)

    def test_index_shows_the_identity(self) -> None:
        response = self.get("/", groups=("staff",))
        self.assertContains(response, "ada@example.com")
        self.assertContains(response, "staff")

    def test_no_token_is_401(self) -> None:
        response = self.client.get("/api/me", headers={"Accept": "application/json"})
        self.assertEqual(response.status_code, 401)
        self.assertEqual(json.loads(response.content)["reason"], "missing")

    def test_api_maps_the_user(self) -> None:
        body = json.loads(self.get("/api/me", groups=("admins",)).content)
        self.assertEqual(body["user"], "ada@example.com")
        self.assertTrue(body["staff"])
        user = get_user_model().objects.get(username="ada@example.com")
        self.assertEqual(list(user.groups.values_list("name", flat=True)), ["admins"])

    def test_known_user_costs_one_query(self) -> None:
        self.get("/api/me", groups=("admins",))  # first sight: creates and syncs
        with self.assertNumQueries(1):
            response = self.get("/api/me", groups=("admins",))
        self.assertEqual(response.status_code, 200)

    def test_admins_only(self) -> None:
        self.assertEqual(self.get("/admins", groups=("admins",)).status_code, 200)
        denied = self.get("/admins", groups=("staff",))
        self.assertContains(denied, "Ask an administrator", status_code=403)

    def test_reports_mixin(self) -> None:
        self.assertEqual(self.get("/reports", email="eve@elsewhere.org").status_code, 403)
        self.assertEqual(self.get("/reports", email="bob@example.com").status_code, 200)

    def test_django_admin_for_the_admins_group(self) -> None:
        self.assertEqual(self.get("/admin/", groups=("admins",)).status_code, 200)
        self.assertEqual(self.get("/admin/", groups=("staff",)).status_code, 302)

    def test_audit_log(self) -> None:
        with self.assertLogs("audit", "INFO") as logs:
            self.get("/admins", groups=("staff",))
            self.client.get("/")
        events = [json.loads(line.split(":", 2)[2]) for line in logs.output]
        self.assertEqual([e["event"] for e in events], ["verified", "denied", "refused"])
        self.assertNotIn("eyJ", "".join(logs.output))

    def test_healthz_needs_no_token(self) -> None:
        self.assertEqual(self.client.get("/healthz").status_code, 200)
