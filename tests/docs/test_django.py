"""docs/django.md: its snippets run as the page says (settings pass the checks, the views
guard as described, the testing recipe's tests pass under pytest-django)."""

from __future__ import annotations

import importlib.util
import sys
import types
import typing as t

import pytest
from django.core import checks
from django.test import Client

from pomerium_wsgi.testing import FakePomerium
from tests.adapters.django_site import configure
from tests.conftest import ROOT

configure()

SNIPPETS = ROOT / "docs" / "snippets"


def load(name: str) -> types.ModuleType:
    """Import docs/snippets/<name>.py as module ``docs_snippets_<name>``."""
    module_name = f"docs_snippets_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, SNIPPETS / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


settings_snippet = load("django_settings")
views_snippet = load("django_views")
testing_snippet = load("django_testing")


@pytest.fixture(autouse=True)
def snippet_urls(settings: t.Any) -> None:
    settings.ROOT_URLCONF = views_snippet.__name__


def test_settings_snippet_passes_the_checks(settings: t.Any) -> None:
    settings.MIDDLEWARE = settings_snippet.MIDDLEWARE
    settings.AUTHENTICATION_BACKENDS = settings_snippet.AUTHENTICATION_BACKENDS
    settings.POMERIUM = settings_snippet.POMERIUM
    found = [m.id for m in checks.run_checks() if (m.id or "").startswith("django_pomerium")]
    assert found == []
    from django_pomerium import get_settings

    conf = get_settings()
    assert conf.sync_groups == ("admins", "editors") and conf.staff_groups == ("admins",)
    assert conf.exempt == ("/healthz",)


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "email", "groups", "status"), [
    pytest.param("/me", None, [], 401, id="me-anonymous"),
    pytest.param("/tools", "ada@example.com", ["admins"], 200, id="tools-admin"),
    pytest.param("/tools", "ada@example.com", [], 403, id="tools-other"),
    pytest.param("/drafts", "eve@elsewhere.org", ["editors"], 200, id="drafts-editor"),
    pytest.param("/drafts", "bob@example.com", [], 200, id="drafts-domain"),
    pytest.param("/drafts", "eve@elsewhere.org", [], 403, id="drafts-other"),
    pytest.param("/reports", "eve@elsewhere.org", ["admins"], 403, id="reports-wrong-domain"),
    pytest.param("/reports", "ada@example.com", ["admins"], 200, id="reports-ok"),
])
def test_views_snippet(settings: t.Any, pomerium: FakePomerium, path: str,
                       email: str | None, groups: list[str], status: int) -> None:
    settings.POMERIUM = {"VERIFIER": pomerium.verifier(), "OPTIONAL": True}
    headers = {} if email is None else pomerium.headers(email, groups)
    assert Client().get(path, headers=headers).status_code == status


# The testing recipe's own tests and fixture, collected here as they would be in a project.
ReportsTests = testing_snippet.ReportsTests
site = testing_snippet.site
test_recipe_me = testing_snippet.test_me
test_recipe_no_token_is_401 = testing_snippet.test_no_token_is_401


def test_the_page_needs_no_conftest_line_for_the_fixture() -> None:
    """The recipe's ``pomerium`` fixture comes from the plugin's entry point."""
    page = (ROOT / "docs" / "django.md").read_text(encoding="utf-8")
    assert "pytest_plugins" not in page
    assert "pytest_plugins" not in (SNIPPETS / "django_testing.py").read_text()
    assert "an HTML page for browsers" in page


def test_refusals_come_in_three_formats(settings: t.Any) -> None:
    settings.POMERIUM = {"VERIFIER": FakePomerium().verifier()}
    client = Client()
    types_ = {accept: client.get("/me", headers={"Accept": accept})["Content-Type"]
              for accept in ("text/html", "application/json", "*/*")}
    assert types_ == {"text/html": "text/html; charset=utf-8",
                      "application/json": "application/problem+json",
                      "*/*": "text/plain; charset=utf-8"}


def test_the_dev_command_is_the_one_the_server_test_runs() -> None:
    """tests/adapters/test_django_server.py runs this project under the real dev command
    (and under gunicorn); the page shows the same application and migrate step."""
    from tests.adapters.test_django_server import WSGI_APP

    page = (ROOT / "docs" / "django.md").read_text(encoding="utf-8")
    assert f"$ pomerium-wsgi dev {WSGI_APP} --email ada@example.com" in page
    assert "$ POMERIUM_AUDIENCE=app.example.com python examples/django/manage.py migrate" in page


def test_the_asgi_commands_are_the_ones_the_server_tests_run() -> None:
    """The ASGI application the page names exists in the example and is what
    tests/adapters/test_django_server.py serves under uvicorn and under dev."""
    from tests.adapters.test_django_server import ASGI_APP

    page = (ROOT / "docs" / "django.md").read_text(encoding="utf-8")
    assert f"$ uvicorn {ASGI_APP} --host 0.0.0.0 --port 8080" in page
    assert f"$ pomerium-wsgi dev {ASGI_APP} --email ada@example.com" in page
    assert (ROOT / "examples" / "django" / "project" / "asgi.py").is_file()
