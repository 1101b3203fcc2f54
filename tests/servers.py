"""Run an example app in a real WSGI server process and talk to it over loopback HTTP."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import typing as t
import urllib.error
import urllib.request

import pytest
from werkzeug.datastructures import Headers

from pomerium_wsgi.testing import FakePomerium

from .conftest import ROOT

STARTUP_TIMEOUT = 60.0


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, Headers, str]:
    """GET *url*; (status, case-insensitive headers, body) for successes and errors alike."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return (response.status, Headers(list(response.headers.items())),
                    response.read().decode())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, Headers(list(error.headers.items())), error.read().decode()


def _wait_until_ready(process: subprocess.Popen[bytes], base: str, log: t.IO[bytes]) -> None:
    """Poll the exempt health check until it answers; fail with the server's log."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"server exited with {process.returncode}: {log.read().decode()}")
        try:
            if fetch(base + "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    log.seek(0)
    pytest.fail(f"server did not answer within {STARTUP_TIMEOUT}s: {log.read().decode()}")


@contextlib.contextmanager
def serve_example(command: list[str], port: int, fake: FakePomerium) -> t.Iterator[str]:
    """Start *command* (a server listening on *port*) with the example's two settings
    pointing at *fake*'s JWKS served from this process; yield its base URL; stop it."""
    with fake.serve() as jwks_url, tempfile.TemporaryFile() as log:
        env = {**os.environ, "POMERIUM_AUDIENCE": fake.audience,
               "POMERIUM_JWKS_URL": jwks_url, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_ready(process, base, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)
