"""``pomerium-wsgi keygen --out``: a private key readable by its owner only, always."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest

from pomerium_wsgi.testing import SigningKey

from .support import ENV, run


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _written_kid(stdout: str) -> str:
    return str(json.loads(stdout)["keys"][0]["kid"])


def test_force_over_a_world_readable_file_leaves_a_0600_key(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "signing-key.pem"
    out.write_text("old\n")
    out.chmod(0o644)
    result = run("keygen", "--out", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert _mode(out) == 0o600
    assert SigningKey.from_pem(out.read_bytes()).kid == _written_kid(result.stdout)
    assert [p.name for p in tmp_path.iterdir()] == ["signing-key.pem"]  # no temporary left


@pytest.mark.parametrize("force", [True, False], ids=["force", "no-force"])
def test_a_symlink_at_the_destination_is_never_followed(force: bool,
                                                        tmp_path: pathlib.Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("do not touch\n")
    target.chmod(0o644)
    link = tmp_path / "key.pem"
    link.symlink_to(target)
    result = run("keygen", "--out", str(link), *(["--force"] if force else []))
    assert target.read_text() == "do not touch\n" and _mode(target) == 0o644
    if force:
        assert result.returncode == 0, result.stderr
        assert not link.is_symlink() and _mode(link) == 0o600
        assert SigningKey.from_pem(link.read_bytes()).kid == _written_kid(result.stdout)
    else:
        assert result.returncode == 2 and "exists" in result.stderr
        assert link.is_symlink()


def test_a_dangling_symlink_is_refused_without_force(tmp_path: pathlib.Path) -> None:
    link = tmp_path / "key.pem"
    missing = tmp_path / "elsewhere.pem"
    link.symlink_to(missing)
    result = run("keygen", "--out", str(link))
    assert result.returncode == 2 and "exists" in result.stderr
    assert not missing.exists()


def test_a_new_key_is_0600_even_with_umask_0(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "new.pem"
    result = subprocess.run([sys.executable, "-m", "pomerium_wsgi", "keygen", "--out", str(out)],
                            capture_output=True, text=True, env=ENV, timeout=60,
                            preexec_fn=lambda: os.umask(0))
    assert result.returncode == 0, result.stderr
    assert _mode(out) == 0o600
