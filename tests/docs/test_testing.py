"""docs/testing.md: each recipe's test file, run by pytest as a user would run it.

A recipe is an app (``docs/snippets/testing_<name>_app.py``, written as ``myapp.py``)
and its tests (``testing_<name>_test.py``, written as ``test_myapp.py``), copied to a
temporary directory with no conftest: the ``pomerium`` fixture comes from the installed
plugin, as the page says. Every test of the recipe must pass, and the count is checked so
that a recipe cannot lose a test unnoticed.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from ..conftest import ROOT

SNIPPETS = ROOT / "docs" / "snippets"

#: WebOb (under WebTest) imports the stdlib cgi module on Python < 3.13, as in pyproject.
CGI_WARNING = "ignore:'cgi' is deprecated and slated for removal:DeprecationWarning"
#: recipe -> (its app snippet or None, its test snippet, how many tests that file holds).
RECIPES = {
    "fake": (None, "testing_fake_test.py", 3),
    "flask": ("testing_flask_app.py", "testing_flask_test.py", 3),
    "bottle": ("testing_bottle_app.py", "testing_bottle_test.py", 2),
    "pyramid": ("testing_pyramid_app.py", "testing_pyramid_test.py", 2),
    "wsgi": ("testing_wsgi_app.py", "testing_wsgi_test.py", 3),
}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_recipe_passes_under_pytest(tmp_path: pathlib.Path, recipe: str) -> None:
    app, tests, count = RECIPES[recipe]
    if app is not None:
        (tmp_path / "myapp.py").write_text((SNIPPETS / app).read_text())
    (tmp_path / "test_myapp.py").write_text((SNIPPETS / tests).read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "POMERIUM_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "-W", CGI_WARNING, "."],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary.startswith(f"{count} passed"), done.stdout


def test_page_shows_every_recipe() -> None:
    page = (ROOT / "docs" / "testing.md").read_text()
    for app, tests, _ in RECIPES.values():
        assert f"snippets/{tests}" in page
        assert app is None or f"snippets/{app}" in page


def test_page_names_what_the_recipes_import_beyond_the_package() -> None:
    """A reader who installs only pomerium-wsgi[...] gets an ImportError from a recipe
    that imports webtest, unless the page says to install it."""
    page = (ROOT / "docs" / "testing.md").read_text()
    imports_webtest = [tests for _, tests, _ in RECIPES.values()
                       if "from webtest import" in (SNIPPETS / tests).read_text()]
    assert imports_webtest  # the Bottle and Pyramid recipes
    assert "$ pip install pytest webtest" in page
