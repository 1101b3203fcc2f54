"""Driving ``pomerium-wsgi`` as a user does: real subprocesses, real HTTP on 127.0.0.1.

:class:`Dev` starts ``pomerium-wsgi dev`` in its own session (so the test can stop every
process it started, the reloader's child included) with output going to files, which the
test can read while the server runs.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
import typing as t

from ..conftest import ROOT, free_port

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
ESCAPES = ("\x1b", "\x9b", "\u202e")


def run(*args: str, stdin: str | None = None, cwd: pathlib.Path | None = None,
        env: t.Mapping[str, str] | None = None, timeout: float = 60,
        ) -> subprocess.CompletedProcess[str]:
    """``python -m pomerium_wsgi *args``; never raises on a non-zero exit."""
    return subprocess.run([sys.executable, "-m", "pomerium_wsgi", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT,
                          env=dict(env or ENV))


def write(directory: pathlib.Path, name: str, source: str) -> pathlib.Path:
    path = directory / name
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


class Answer(t.NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> t.Any:
        return json.loads(self.body)


class Dev:
    """A running ``pomerium-wsgi dev``; use as a context manager."""

    def __init__(self, *args: str, cwd: pathlib.Path, ignore_sigint: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.cwd = cwd
        self._out = cwd / f"dev-{self.port}.out"
        self._err = cwd / f"dev-{self.port}.err"

        def prepare() -> None:  # in the child, before exec
            if ignore_sigint:  # as a non-interactive shell starts a background job
                signal.signal(signal.SIGINT, signal.SIG_IGN)

        with open(self._out, "wb") as out, open(self._err, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pomerium_wsgi", "dev", *args, "--port", str(self.port)],
                cwd=cwd, env=ENV, stdout=out, stderr=err, start_new_session=True,
                preexec_fn=prepare)

    @property
    def stdout(self) -> str:
        return self._out.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self._err.read_text(encoding="utf-8", errors="replace")

    def request(self, path: str = "/", headers: t.Mapping[str, str] | None = None,
                method: str = "GET", timeout: float = 10) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, headers={"Accept": "application/json",
                                                      **(headers or {})})
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def wait_ready(self, path: str = "/", timeout: float = 60) -> Answer:
        """The first answer, once the server accepts connections."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"dev exited ({self.process.returncode}):\n"
                                     f"{self.stdout}\n{self.stderr}")
            try:
                return self.request(path)
            except (ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"dev did not answer:\n{self.stderr}") from None
                time.sleep(0.2)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        """Until *text* appears on stderr or stdout."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr + self.stdout:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared:\n{self.stdout}\n{self.stderr}")
            time.sleep(0.1)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send *signum* to dev (not its children) and wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout)

    def all_gone(self, timeout: float = 20) -> bool:
        """True once no process of dev's session is left (a reloader's child included)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False

    def __enter__(self) -> Dev:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.process.poll() is None:
                self.stop()
        except subprocess.TimeoutExpired:
            pass
        finally:
            # Whatever is left of its session (a reloader's child): gone.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            if self.process.poll() is None:
                self.process.wait(10)


ECHO_APP = '''
    """A WSGI app configured from the environment dev exports; echoes the identity."""
    import json
    import logging
    import os

    from pomerium_wsgi import PomeriumMiddleware, Verifier, get_identity

    VERSION = "v1"
    log = logging.getLogger("myapp")


    def echo(environ, start_response):
        identity = get_identity(environ)
        log.info("hello from the app, path %s", environ["PATH_INFO"])
        body = json.dumps({
            "version": VERSION,
            "email": identity.email if identity else None,
            "groups": list(identity.groups) if identity else None,
            "token_seen": "HTTP_X_POMERIUM_JWT_ASSERTION" in environ,
        }).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


    def create_app(label="factory"):
        global VERSION
        VERSION = label
        return PomeriumMiddleware(echo, Verifier(os.environ["POMERIUM_AUDIENCE"],
                                                 jwks_url=os.environ["POMERIUM_JWKS_URL"]))


    app = PomeriumMiddleware(echo, Verifier(os.environ["POMERIUM_AUDIENCE"],
                                            jwks_url=os.environ["POMERIUM_JWKS_URL"]))
    optional_app = PomeriumMiddleware(echo, app.verifier, optional=True)
'''
