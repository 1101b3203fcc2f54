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
#: recipe -> how many tests its test file holds.
RECIPES = {"fake": 3, "flask": 3, "bottle": 2, "pyramid": 2, "wsgi": 3}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_recipe_passes_under_pytest(tmp_path: pathlib.Path, recipe: str) -> None:
    app = SNIPPETS / f"testing_{recipe}_app.py"
    if app.exists():
        (tmp_path / "myapp.py").write_text(app.read_text())
    (tmp_path / "test_myapp.py").write_text((SNIPPETS / f"testing_{recipe}_test.py").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "POMERIUM_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "-W", CGI_WARNING, "."],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary.startswith(f"{RECIPES[recipe]} passed"), done.stdout


def test_page_shows_every_recipe() -> None:
    page = (ROOT / "docs" / "testing.md").read_text()
    for recipe in RECIPES:
        assert f"snippets/testing_{recipe}_test.py" in page
    for recipe in ("flask", "bottle", "pyramid", "wsgi"):
        assert f"snippets/testing_{recipe}_app.py" in page
