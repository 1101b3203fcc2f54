"""The README's WSGI, Flask, Bottle and Pyramid quick starts, run under ``pomerium-wsgi dev``.

Each quick start's Python block is written, as it stands in the README, to a file in a
temporary directory; ``pomerium-wsgi dev MODULE:app --email ... --group ...`` serves it
in a real subprocess, and real HTTP requests check the answers the text promises: 200
for the signed-in user, 200 / 403 on the admin route for a member / non-member of
``admins``, 200 on the exempt health check. Nothing is edited: the settings the quick
starts leave out (the JWKS URL) come from the ``POMERIUM_*`` variables ``dev`` exports.

The Pyramid quick start is a ``main(global_config, **settings)`` factory with its
settings in an .ini file (as ``pserve`` runs it); under ``dev`` it runs as the README
says, ``dev 'myapp:main({})'``, with dev's variables standing in for the .ini.
"""

from __future__ import annotations

import configparser
import os
import pathlib
import re
import signal
import subprocess
import sys
import typing as t
import urllib.error
import urllib.request

import pytest

from .conftest import ROOT

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SERVING = re.compile(r"serving \S+ (?:\(.*\) )?at (http://127\.0\.0\.1:\d+/)")
DEV = pathlib.Path(sys.executable).with_name("pomerium-wsgi")


def readme_section(heading: str) -> str:
    """The README's text from ``## heading`` to the next ``## `` heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def first_block(heading: str, language: str) -> str:
    """The first fenced block in *language* of the README's *heading* section."""
    for lang, body in _FENCE.findall(readme_section(heading)):
        if lang == language:
            return t.cast(str, body)
    pytest.fail(f"the README's {heading} section has no {language} block")


def write_wsgi(directory: pathlib.Path) -> str:
    (directory / "app.py").write_text(first_block("Any WSGI app", "python"))
    return "app:app"


def write_flask(directory: pathlib.Path) -> str:
    (directory / "app.py").write_text(first_block("Flask", "python"))
    return "app:app"


def write_bottle(directory: pathlib.Path) -> str:
    (directory / "app.py").write_text(first_block("Bottle", "python"))
    return "app:app"


def write_pyramid(directory: pathlib.Path) -> str:
    """The README's own command: ``dev 'myapp:main({})'`` (the .ini is not read; the
    README's audience is the one dev exports by default)."""
    (directory / "myapp.py").write_text(first_block("Pyramid", "python"))
    ini = configparser.ConfigParser()
    ini.read_string(first_block("Pyramid", "ini"))
    assert ini["app:main"]["pomerium.audience"] == "app.example.com"
    spec = "myapp:main({})"
    assert f"`pomerium-wsgi dev '{spec}' --email ada@example.com --group admins`" in (
        " ".join(readme_section("Pyramid").split()))
    return spec


#: (how to write the quick start, {path: (status for an admin, status for a non-admin)}).
QUICK_STARTS: dict[str, tuple[t.Callable[[pathlib.Path], str], dict[str, tuple[int, int]]]] = {
    "wsgi": (write_wsgi, {"/": (200, 200)}),
    "flask": (write_flask, {"/": (200, 200), "/admin": (200, 403), "/healthz": (200, 200)}),
    "bottle": (write_bottle, {"/": (200, 200), "/admin": (200, 403), "/healthz": (200, 200)}),
    "pyramid": (write_pyramid, {"/": (200, 200), "/admin": (200, 403)}),
}


class Dev:
    """``pomerium-wsgi dev`` serving *spec* from *directory*, on a free port."""

    def __init__(self, directory: pathlib.Path, spec: str, *identity: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POMERIUM_")}
        self.process = subprocess.Popen(
            [str(DEV), "dev", spec, "--port", "0", *identity], cwd=directory, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = _SERVING.search(line)
        if match is None:
            self.process.kill()
            _, err = self.process.communicate(timeout=30)
            pytest.fail(f"dev did not start: {line!r}\n{err}")
        self.url = match.group(1)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        return err


@pytest.mark.parametrize("member", [True, False], ids=["admin", "not-admin"])
@pytest.mark.parametrize("framework", sorted(QUICK_STARTS))
def test_quick_start_runs_under_dev_unchanged(tmp_path: pathlib.Path, framework: str,
                                              member: bool) -> None:
    write, expected = QUICK_STARTS[framework]
    spec = write(tmp_path)
    email = "ada@example.com" if member else "bob@example.com"
    group = "admins" if member else "staff"
    dev = Dev(tmp_path, spec, "--email", email, "--group", group)
    try:
        answers = {path: dev.get(path) for path in expected}
    finally:
        log = dev.stop()
    statuses = {path: status for path, (status, _) in answers.items()}
    assert statuses == {path: pair[0 if member else 1] for path, pair in expected.items()}, log
    assert email in answers["/"][1]  # the home page greets the injected identity
    assert "keys_unavailable" not in log
