"""The README's "Command line" section, executed, so its examples cannot rot.

Every ``$ `` line of the section's ``console`` blocks runs in order in one temporary
directory (files one example writes, the next reads), through bash, with this
environment's ``pomerium-wsgi`` first on the ``PATH``. A trailing ``# exit N`` comment
states the exit status the example must give; otherwise it must succeed. Two rewrites
keep everything on 127.0.0.1: Pomerium's production JWKS URL is served by a local
FakePomerium holding the key the examples generated, and ``dev`` examples get a free
``--port`` and are stopped after one request. The "Testing your app" code blocks are
written to the files their first line names and run with pytest.

The README can be swapped with ``README_PATH`` (default: the repository's README.md). A
missing section fails the tests: they never skip.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import time
import typing as t
import urllib.error
import urllib.request

import pytest

from pomerium_wsgi.testing import FakePomerium, SigningKey

from .conftest import ROOT, free_port

SECTION = "## Command line"
SUBSECTION = "### Testing your app"
PRODUCTION_JWKS_URL = "https://app.example.com/.well-known/pomerium/jwks.json"
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme() -> str:
    path = pathlib.Path(os.environ.get("README_PATH", ROOT / "README.md"))
    assert path.is_file(), f"no README at {path}"
    return path.read_text(encoding="utf-8")


def section(text: str, heading: str, level: str) -> str:
    """The text under *heading* up to the next heading of the same or a higher level."""
    start = text.find("\n" + heading + "\n")
    if start < 0 and text.startswith(heading + "\n"):
        start = 0
    if start < 0:
        pytest.fail(f"the README has no {heading!r} section")
    lines = text[start + len(heading) + 1:].splitlines(keepends=True)
    kept: list[str] = []
    in_fence = False
    for line in lines:
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(rf"#{{1,{len(level)}}} ", line):
            break  # a heading (a "# " line inside a code block is a comment)
        kept.append(line)
    return "".join(kept)


def commands(text: str) -> list[str]:
    """The ``$ `` commands of the console blocks, continuation lines joined."""
    found: list[str] = []
    for language, block in _FENCE.findall(text):
        if language != "console":
            continue
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.startswith("$ "):
                continue  # sample output
            command = line[2:]
            while command.endswith("\\") and i < len(lines):
                command = command[:-1].rstrip() + " " + lines[i].strip()
                i += 1
            found.append(command)
    return found


def expected_exit(command: str) -> int:
    match = _EXIT.search(command)
    return int(match.group(1)) if match else 0


def subcommand(command: str) -> str | None:
    words = shlex.split(command, comments=True)
    if "pomerium-wsgi" in words and words.index("pomerium-wsgi") + 1 < len(words):
        return words[words.index("pomerium-wsgi") + 1]
    return None


def environment() -> dict[str, str]:
    bindir = str(pathlib.Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def cli_section() -> str:
    """The section, or a test failure (never a skip or a fixture error) when it is missing."""
    return section(readme(), SECTION, "##")


def test_section_documents_every_subcommand() -> None:
    cli = cli_section()
    used = {subcommand(c) for c in commands(cli)}
    assert {"verify", "keygen", "mint", "dev"} <= used, used
    testing = section(cli, SUBSECTION, "###")
    assert "pytest_plugins" not in testing  # the fixture comes from the entry point
    assert "def test_" in testing and "pomerium" in testing


def test_console_examples_run(tmp_path: pathlib.Path) -> None:
    """Every non-``dev`` example, in order, gives the documented exit status."""
    cli = cli_section()
    env = environment()
    served: list[t.Any] = []  # the FakePomerium JWKS server, once an example needs it
    key_file: str | None = None
    ran = 0
    try:
        for command in commands(cli):
            if subcommand(command) == "dev":
                continue
            words = shlex.split(command, comments=True)
            if subcommand(command) == "mint" and "--key" in words:
                key_file = words[words.index("--key") + 1]
            if PRODUCTION_JWKS_URL in command:
                if not served:
                    assert key_file, "an example uses the JWKS URL before any mint --key"
                    key = SigningKey.from_pem((tmp_path / key_file).read_bytes())
                    server = FakePomerium(key=key).serve()
                    served.append((server, server.__enter__()))
                command = command.replace(PRODUCTION_JWKS_URL, served[0][1])
            result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path,
                                    env=env, capture_output=True, text=True, timeout=120)
            detail = f"$ {command}\n{result.stdout}\n{result.stderr}"
            assert result.returncode == expected_exit(command), detail
            assert "Traceback" not in result.stderr, detail
            ran += 1
    finally:
        for server, _ in served:
            server.__exit__(None, None, None)
    assert ran >= 5
    assert served, f"no example uses {PRODUCTION_JWKS_URL}"


def test_dev_examples_serve_the_identity_they_name() -> None:
    cli = cli_section()
    dev = [c for c in commands(cli) if subcommand(c) == "dev"]
    assert dev
    for command in dev:
        words = shlex.split(command, comments=True)
        email = words[words.index("--email") + 1] if "--email" in words else "user@example.com"
        port = free_port()
        line = shlex.join(words) + f" --port {port}"
        process = subprocess.Popen(["bash", "-c", "exec " + line], cwd=ROOT, env=environment(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            body = _first_answer(process, f"http://127.0.0.1:{port}/")
        finally:
            process.terminate()
            try:
                out, err = process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate(timeout=20)
        assert json.loads(body)["email"] == email, f"$ {command}\n{out}\n{err}"
        assert f"127.0.0.1:{port}" in out and email in out


def _first_answer(process: subprocess.Popen[str], url: str) -> str:
    deadline = time.monotonic() + 60
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    while True:
        if process.poll() is not None:
            raise AssertionError(f"dev exited early: {process.communicate()}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return t.cast(bytes, response.read()).decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise AssertionError("dev did not answer within 60 s") from None
            time.sleep(0.2)


def test_testing_your_app_example_passes(tmp_path: pathlib.Path) -> None:
    """The "Testing your app" file, beside the "Any WSGI app" quick start saved as
    ``app.py`` (as the text says), run with pytest and no conftest.py."""
    cli = cli_section()
    testing = section(cli, SUBSECTION, "###")
    assert "saved as `app.py`" in testing
    quick_start = [b for lang, b in _FENCE.findall(section(readme(), "## Any WSGI app", "##"))
                   if lang == "python"]
    assert len(quick_start) == 1
    (tmp_path / "app.py").write_text(quick_start[0], encoding="utf-8")
    written = []
    for language, block in _FENCE.findall(testing):
        if language != "python":
            continue
        first = block.splitlines()[0]
        assert re.fullmatch(r"# [\w.]+\.py", first), f"block does not name its file: {first!r}"
        (tmp_path / first[2:]).write_text(block, encoding="utf-8")
        written.append(first[2:])
    assert written == ["test_app.py"]
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    env = {k: v for k, v in environment().items() if not k.startswith("POMERIUM_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* passed\b", result.stdout) and "failed" not in result.stdout
