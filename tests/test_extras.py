"""Importing an adapter without its framework names the extra to install.

Each case runs in a fresh interpreter whose ``sys.meta_path`` refuses the framework, as
if it were not installed, and imports the adapter the way a user would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pomerium_wsgi.extras import missing_extra

BLOCKED_IMPORT = textwrap.dedent("""
    import importlib.abc, sys

    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == {blocked!r} or name.startswith({blocked!r} + "."):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Absent())
    try:
        import {adapter}
    except ModuleNotFoundError as exc:
        print(type(exc).__name__, exc.name, "|", exc)
    else:
        print("imported")
""")


def run_without(blocked: str, adapter: str) -> str:
    code = BLOCKED_IMPORT.format(blocked=blocked, adapter=adapter)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("adapter", "framework"),
    [("flask_pomerium", "flask"), ("bottle_pomerium", "bottle"),
     ("pyramid_pomerium", "pyramid"), ("django_pomerium", "django"),
     ("django_pomerium.middleware", "django")],
    ids=["flask", "bottle", "pyramid", "django", "django-middleware-by-dotted-path"],
)
def test_adapter_without_its_framework_names_the_extra(adapter: str, framework: str) -> None:
    assert run_without(framework, adapter) == (
        f"ModuleNotFoundError {framework} | {adapter.partition('.')[0]} needs {framework}, "
        "which is not "
        f"installed: pip install 'pomerium-wsgi[{framework}]'"
    )


def test_adapter_with_its_framework_imports() -> None:
    assert run_without("nothing_of_the_sort", "bottle_pomerium") == "imported"


def test_another_missing_module_is_left_as_it_was() -> None:
    """A module the framework itself needs is not the framework: its error is kept."""
    error = ModuleNotFoundError("No module named 'markupsafe'", name="markupsafe")
    assert missing_extra(error, "flask", "flask", "flask_pomerium") is error
    submodule = ModuleNotFoundError("No module named 'flask.views'", name="flask.views")
    assert "pip install 'pomerium-wsgi[flask]'" in str(
        missing_extra(submodule, "flask", "flask", "flask_pomerium"))
