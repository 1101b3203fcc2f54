"""The documentation site builds with warnings as errors (a broken reference fails)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from ..conftest import ROOT

pytest.importorskip("sphinx", reason="the docs toolchain (docs/requirements.txt) is needed")
pytest.importorskip("furo", reason="the docs toolchain (docs/requirements.txt) is needed")
pytest.importorskip("myst_parser", reason="the docs toolchain (docs/requirements.txt) is needed")


def test_sphinx_build_with_warnings_as_errors(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index", "getting-started", "flask", "troubleshooting", "api", "changelog",
                 "security"):
        assert (out / f"{page}.html").is_file(), page
    api = (out / "api.html").read_text()
    for name in ("pomerium_wsgi.Verifier", "flask_pomerium.Pomerium",
                 "bottle_pomerium.PomeriumPlugin", "pyramid_pomerium.PomeriumSecurityPolicy",
                 "pomerium_wsgi.testing.FakePomerium"):
        assert f'id="{name}"' in api, name
    assert "Reporting a vulnerability" in (out / "security.html").read_text()
    assert "0.1.0" in (out / "changelog.html").read_text()
