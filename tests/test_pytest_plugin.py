"""The ``pomerium`` fixture through pytest's entry point, in real pytest runs.

Each case writes a tiny project to a temporary directory and runs pytest on it in a
subprocess, as a user's own test run would be: no conftest line is needed, a conftest
that lists the plugin the older way still works, the plugin can be turned off, a
project's own ``pomerium`` fixture wins, and a run that does not ask for the fixture
does not import pomerium-wsgi at all.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import pytest_pomerium_wsgi

USES_FIXTURE = """
    def test_fixture(pomerium):
        from pomerium_wsgi import PomeriumMiddleware
        token = pomerium.token("ada@example.com", ["admins"])
        assert pomerium.verifier().verify(token).groups == ("admins",)
        assert PomeriumMiddleware  # the core imports once the fixture is used
"""
IGNORES_FIXTURE = """
    import sys

    def test_nothing_of_pomerium_wsgi_is_imported():
        assert not [m for m in sys.modules if m.startswith("pomerium_wsgi")]
"""
OWN_FIXTURE = """
    import pytest

    @pytest.fixture
    def pomerium():
        return "the project's own"
"""
CASES = {
    "no-conftest": ({"test_a.py": USES_FIXTURE}, [], "1 passed"),
    "conftest-lists-testing": ({"conftest.py": 'pytest_plugins = ["pomerium_wsgi.testing"]',
                                "test_a.py": USES_FIXTURE}, [], "1 passed"),
    "conftest-lists-plugin": ({"conftest.py": 'pytest_plugins = ["pytest_pomerium_wsgi"]',
                               "test_a.py": USES_FIXTURE}, [], "1 passed"),
    "unused-costs-nothing": ({"test_a.py": IGNORES_FIXTURE}, [], "1 passed"),
    "turned-off": ({"test_a.py": USES_FIXTURE}, ["-p", "no:pytest_pomerium_wsgi"],
                   "fixture 'pomerium' not found"),
    "own-fixture-wins": ({"conftest.py": OWN_FIXTURE, "test_a.py": """
        def test_own(pomerium):
            assert pomerium == "the project's own"
    """}, [], "1 passed"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pytest_run(tmp_path: pathlib.Path, case: str) -> None:
    files, options, expected = CASES[case]
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "POMERIUM_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "."],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert expected in done.stdout + done.stderr, done.stdout + done.stderr
    assert "already registered" not in done.stdout + done.stderr


def test_plugin_defines_one_fixture_and_no_hooks() -> None:
    public = [n for n in vars(pytest_pomerium_wsgi) if not n.startswith("_")]
    assert not [n for n in public if n.startswith("pytest_")]
    assert "pomerium" in public
