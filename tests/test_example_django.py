"""The Django example's own test suite and system checks, run as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POMERIUM_")}
    environ.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "examples/django/manage.py", *args], cwd=ROOT,
                          env={**environ, **env}, capture_output=True, text=True, timeout=180)


def test_example_suite_passes() -> None:
    result = manage("test", "examples.django.demo", "-v", "2",
                    POMERIUM_AUDIENCE="app.example.com")
    assert result.returncode == 0, result.stderr
    assert "Ran 9 tests" in result.stderr and "OK" in result.stderr


@pytest.mark.parametrize(("env", "expected"), [
    pytest.param({"POMERIUM_AUDIENCE": "app.example.com"}, None, id="audience-from-env"),
    pytest.param({}, "django_pomerium.E001", id="no-audience"),
])
def test_example_check(env: dict[str, str], expected: str | None) -> None:
    result = manage("check", **env)
    if expected is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0 and expected in result.stderr
        assert "POMERIUM_AUDIENCE" in result.stderr  # the hint names the fix
