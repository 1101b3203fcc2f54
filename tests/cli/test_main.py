"""The ``pomerium-wsgi`` entry point: ``--version``, and both ways of running it."""

from __future__ import annotations

import importlib.metadata
import pathlib
import subprocess
import sys

from .support import ENV, run


def test_version_names_the_installed_distribution() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pomerium-wsgi {importlib.metadata.version('pomerium-wsgi')}"


def test_console_script_and_module_agree() -> None:
    script = pathlib.Path(sys.executable).parent / "pomerium-wsgi"
    by_script = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                               env=ENV, timeout=60)
    assert by_script.returncode == 0 and by_script.stdout == run("--version").stdout
    help_text = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                               env=ENV, timeout=60).stdout
    for command in ("verify", "keygen", "mint", "dev"):
        assert command in help_text
