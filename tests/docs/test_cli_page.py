"""docs/cli.md, executed: every ``$ `` line of its ``console`` blocks runs, and what the
page shows under a command must appear in that command's output.

Commands other than ``dev`` run in page order in one temporary directory (files one
example writes, the next reads), through bash, with this environment's
``pomerium-wsgi`` and ``python`` first on the ``PATH``. A trailing ``# exit N`` comment
states the exit status the example must give; otherwise it must succeed. Pomerium's
production JWKS URL is served by a local FakePomerium holding the key the examples
generated, so everything stays on 127.0.0.1.

A ``dev`` command starts the server (from ``docs/snippets``, the page's snippets
importable beside the repository's ``examples``) on a free port instead of 8000; the
``$ curl`` lines after it in the same block run against it; it is then stopped with
Ctrl-C and must exit 0. The lines shown under the ``dev`` command must appear in its
output, and those under each ``curl`` in curl's output. In shown lines, ``...`` stands
for text that varies (times, key ids, ports of the JWKS server).
"""

from __future__ import annotations

import configparser
import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys
import time
import typing as t
import urllib.error
import urllib.request

import pytest

from pomerium_wsgi.cli import dev_servers
from pomerium_wsgi.testing import FakePomerium, SigningKey

from ..conftest import ROOT, free_port

PAGE = ROOT / "docs" / "cli.md"
SNIPPETS = ROOT / "docs" / "snippets"
PRODUCTION_JWKS_URL = "https://app.example.com/.well-known/pomerium/jwks.json"
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


class Example(t.NamedTuple):
    command: str
    shown: list[str]  # the output lines the page shows under it


def blocks() -> list[list[Example]]:
    """The page's console blocks: each a list of commands with their shown output."""
    found = []
    for info, body in _FENCE.findall(PAGE.read_text(encoding="utf-8")):
        if info.strip() != "console":
            continue
        examples: list[Example] = []
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\") and i < len(lines):
                    command = command[:-1].rstrip() + " " + lines[i].strip()
                    i += 1
                examples.append(Example(command, []))
            elif examples:
                examples[-1].shown.append(line)
        found.append(examples)
    return found


def subcommand(command: str) -> str | None:
    words = shlex.split(command, comments=True)
    if "pomerium-wsgi" in words and words.index("pomerium-wsgi") + 1 < len(words):
        return words[words.index("pomerium-wsgi") + 1]
    return None


def expected_exit(command: str) -> int:
    match = _EXIT.search(command)
    return int(match.group(1)) if match else 0


def environment() -> dict[str, str]:
    bindir = str(pathlib.Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def assert_shown(shown: t.Iterable[str], output: str, where: str) -> None:
    """Each shown line's fixed parts (around ``...``) appear in *output*."""
    for line in shown:
        for part in line.split("..."):
            assert part.strip() == "" or part in output, (
                f"{where}: the page shows {line!r} but {part!r} is not in the output:\n"
                f"{output}")


def test_page_documents_every_subcommand_and_option() -> None:
    commands = [e.command for block in blocks() for e in block]
    assert {"verify", "keygen", "mint", "dev"} <= {subcommand(c) for c in commands}
    text = PAGE.read_text(encoding="utf-8")
    from pomerium_wsgi.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "dev" in a.choices)
    for name, sub in t.cast(dict[str, t.Any], subparsers.choices).items():
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert f"`{option}" in text, f"{name} {option} is not on the page"
    for snippet in ("cli_factory.py", "cli_asgi.py"):
        assert f"{{literalinclude}} snippets/{snippet}" in text


def test_console_examples_run(tmp_path: pathlib.Path) -> None:
    """Every non-``dev`` example, in order: its exit status and the output shown."""
    env = environment()
    served: list[t.Any] = []  # the FakePomerium JWKS server, once an example needs it
    ran = 0
    try:
        for example in (e for block in blocks() for e in block):
            command = example.command
            if subcommand(command) == "dev" or command.startswith("curl "):
                continue
            if PRODUCTION_JWKS_URL in command:
                if not served:
                    key = SigningKey.from_pem((tmp_path / "signing-key.pem").read_bytes())
                    server = FakePomerium(key=key).serve()
                    served.append((server, server.__enter__()))
                command = command.replace(PRODUCTION_JWKS_URL, served[0][1])
            result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=120)
            detail = f"$ {command}\n{result.stdout}\n{result.stderr}"
            assert result.returncode == expected_exit(command), detail
            assert "Traceback" not in result.stderr, detail
            assert_shown(example.shown, result.stdout + result.stderr, f"$ {command}")
            ran += 1
    finally:
        for server, _ in served:
            server.__exit__(None, None, None)
    assert ran >= 10 and served


def dev_blocks() -> list[list[Example]]:
    return [block for block in blocks() if block and subcommand(block[0].command) == "dev"]


@pytest.mark.parametrize("block", dev_blocks(),
                         ids=[" ".join(b[0].command.split()[2:4]) for b in dev_blocks()])
def test_dev_examples_serve_what_the_page_shows(block: list[Example]) -> None:
    dev, *curls = block
    port = free_port()
    env = environment()
    words = shlex.split(dev.command, comments=True)
    process = subprocess.Popen(
        [*words, "--port", str(port)], cwd=SNIPPETS, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_until_it_answers(process, port)
        for curl in curls:
            assert curl.command.startswith("curl "), curl.command
            command = curl.command.replace(":8000", f":{port}")
            result = subprocess.run(["bash", "-c", command], env=env, capture_output=True,
                                    text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            assert_shown([line.replace(":8000", f":{port}") for line in curl.shown],
                         result.stdout, f"$ {command}")
        time.sleep(0.3)  # the last request line reaches dev's stderr
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "stopped" in out
    assert_shown([line.replace(":8000", f":{port}") for line in dev.shown], out + err,
                 f"$ {dev.command}")


def _wait_until_it_answers(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"dev exited early: {process.communicate()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10):
                return
        except urllib.error.HTTPError:
            return  # an answer (a 401 with --anonymous)
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, "dev did not answer within 60 s"
            time.sleep(0.2)


def test_uvicorn_advice_matches_dev_and_the_extras() -> None:
    """The page and dev's error name the same install command, and no extra of this
    package brings uvicorn (the page once said the FastAPI extra did)."""
    advice = "pip install 'uvicorn[standard]'"
    assert f"`{advice}`" in " ".join(PAGE.read_text(encoding="utf-8").split())
    assert advice in pathlib.Path(dev_servers.__file__).read_text(encoding="utf-8")
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    extras = config["options.extras_require"]
    assert [name for name in extras if "uvicorn" in extras[name]] == []
