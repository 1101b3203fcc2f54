"""``pomerium-wsgi dev`` for a WSGI app, driven as a developer drives it all day.

Each test starts the real command in a subprocess on a free port and talks to it over
HTTP: factories, import errors, log lines, --anonymous, the per-request line, the Host
check, the one-line hints, --reload, and stopping with Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import time

import pytest

from pomerium_wsgi import VerificationError
from pomerium_wsgi.testing import FakePomerium

from .support import ECHO_APP, ESCAPES, Dev, run, write


@pytest.fixture
def project(tmp_path: pathlib.Path) -> pathlib.Path:
    write(tmp_path, "echoapp.py", ECHO_APP)
    return tmp_path


@pytest.mark.parametrize(
    "spec, version",
    [("echoapp:app", "v1"), ("echoapp:create_app", "factory"),
     ("echoapp:create_app()", "factory"), ("echoapp:create_app('from-args')", "from-args"),
     ("echoapp:create_app(label='kw')", "kw")],
    ids=["app", "factory-name", "factory-call", "factory-args", "factory-kwargs"])
def test_dev_serves_apps_and_factories(spec: str, version: str,
                                       project: pathlib.Path) -> None:
    with Dev(spec, "--email", "ada@example.com", "--group", "admins", cwd=project) as dev:
        answer = dev.wait_ready()
    assert answer.status == 200, dev.stderr
    assert answer.json() == {"version": version, "email": "ada@example.com",
                             "groups": ["admins"], "token_seen": True}
    assert "WSGI" in dev.stdout


def test_dev_request_line_names_the_identity_never_the_token(project: pathlib.Path) -> None:
    with Dev("echoapp:app", "--email", "ada@example.com", "--group", "admins",
             "--group", "staff", cwd=project) as dev:
        dev.wait_ready("/first")
        assert dev.request("/who?x=1").status == 200
        assert dev.request("/%1b[2Jfake").status == 200  # an escape in the path
        dev.wait_for("GET /who 200")
    assert dev.stop() == 0
    err = dev.stderr
    assert "GET /who 200 as ada@example.com (admins, staff)" in err
    assert "GET /\\x1b[2Jfake 200 as ada@example.com" in err
    assert not any(c in err + dev.stdout for c in ESCAPES)
    assert "eyJ" not in err + dev.stdout  # no token, no token fragment


def test_dev_shows_the_apps_and_the_librarys_log_lines(project: pathlib.Path) -> None:
    with Dev("echoapp:app", cwd=project) as dev:
        dev.wait_ready("/logged")
        dev.wait_for("hello from the app")
    err = dev.stderr
    assert "INFO myapp: hello from the app, path /logged" in err
    assert "INFO pomerium_wsgi.keys: JWKS from http://127.0.0.1:" in err


def test_dev_anonymous_injects_no_token(project: pathlib.Path) -> None:
    with Dev("echoapp:app", "--anonymous", cwd=project) as dev:
        refused = dev.wait_ready("/private")
        assert dev.request("/private", {"Accept": "text/plain"}).status == 401
    with Dev("echoapp:optional_app", "--anonymous", cwd=project) as optional:
        anonymous = optional.wait_ready()
    assert refused.status == 401 and refused.json()["reason"] == "missing"
    assert "GET /private 401 anonymous" in dev.stderr
    assert "identity: none" in dev.stdout
    assert anonymous.json() == {"version": "v1", "email": None, "groups": None,
                                "token_seen": False}


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}",
                                  "127.0.0.1:1", "localhost", "127.0.0.1.nip.io:{port}"],
                         ids=["foreign", "foreign-with-port", "other-port", "no-port",
                              "rebinding-name"])
def test_dev_refuses_other_hosts(host: str, project: pathlib.Path) -> None:
    with Dev("echoapp:app", "--email", "admin@example.com", cwd=project) as dev:
        dev.wait_ready()
        refused = dev.request("/", {"Host": host.format(port=dev.port),
                                    "Origin": "http://attacker.example"}, method="POST")
        for good in (f"localhost:{dev.port}", f"127.0.0.1:{dev.port}",
                     f"LOCALHOST:{dev.port}"):
            assert dev.request("/", {"Host": good}).status == 200
    assert refused.status == 421
    assert refused.headers["Content-Type"].startswith("text/plain")
    assert b"admin@example.com" not in refused.body and b"421" in refused.body
    assert "POST / 421 refused" in dev.stderr


def test_dev_shows_the_users_import_error_with_its_traceback(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "helper.py", "def broken():\n    raise RuntimeError('boom in my code')\n")
    write(tmp_path, "brokenapp.py", "import helper\nhelper.broken()\napp = None\n")
    result = run("dev", "brokenapp:app", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert 'brokenapp.py", line 2' in result.stderr and 'helper.py", line 2' in result.stderr
    assert "RuntimeError: boom in my code" in result.stderr
    assert "importlib" not in result.stderr  # the loader's own frames are left out
    assert result.stderr.strip().splitlines()[-1] == (
        "pomerium-wsgi dev: error: importing 'brokenapp' failed (traceback above)")


def test_dev_shows_a_factorys_error_and_a_syntax_error(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "factory.py", "def create_app():\n    raise KeyError('no config')\n")
    write(tmp_path, "syntax.py", "app = (\n")
    factory = run("dev", "factory:create_app", "--port", "0", cwd=tmp_path)
    syntax = run("dev", "syntax:app", "--port", "0", cwd=tmp_path)
    assert factory.returncode == syntax.returncode == 2
    assert "KeyError: 'no config'" in factory.stderr and "factory.py" in factory.stderr
    assert "the factory create_app() raised" in factory.stderr
    assert "SyntaxError" in syntax.stderr and "syntax.py" in syntax.stderr


def test_dev_names_the_audience_the_app_expects(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "otherapp.py", '''
        import os
        from pomerium_wsgi import PomeriumMiddleware, Verifier

        def hello(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello"]

        _app = None

        def app(environ, start_response):  # built on first use: no start-up hint possible
            global _app
            if _app is None:
                verifier = Verifier("intranet.example.org",
                                    jwks_url=os.environ["POMERIUM_JWKS_URL"])
                _app = PomeriumMiddleware(hello, verifier)
            return _app(environ, start_response)
        ''')
    with Dev("otherapp:app", cwd=tmp_path) as dev:
        first = dev.wait_ready()
        assert dev.request("/again").status == 401
        dev.wait_for("GET /again 401")
    hint = "restart dev with --audience intranet.example.org"
    assert first.status == 401 and first.json()["reason"] == _reason_for_another_route()
    assert dev.stderr.count(hint) == 1, dev.stderr  # once, in one line
    with Dev("otherapp:app", "--audience", "intranet.example.org", cwd=tmp_path) as fixed:
        assert fixed.wait_ready().status == 200


def _reason_for_another_route() -> str:
    """The Verifier's own reason for a token minted for another route (aud and iss)."""
    fake = FakePomerium()
    try:
        fake.verifier(audience="intranet.example.org").verify(fake.token())
    except VerificationError as error:
        return error.reason
    raise AssertionError("accepted a token for another audience")


def test_dev_says_at_start_up_when_the_apps_keys_are_elsewhere(
        tmp_path: pathlib.Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        elsewhere = f"http://127.0.0.1:{closed.getsockname()[1]}/jwks.json"
    write(tmp_path, "keysapp.py", f'''
        import os
        from pomerium_wsgi import PomeriumMiddleware, Verifier

        def hello(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello"]

        app = PomeriumMiddleware(hello, Verifier(os.environ["POMERIUM_AUDIENCE"],
                                                 jwks_url={elsewhere!r}, timeout=1))
        ''')
    with Dev("keysapp:app", cwd=tmp_path) as dev:
        dev.wait_for(f"the app fetches its keys from {elsewhere}")  # before any request
        answer = dev.wait_ready()
        dev.wait_for("GET / 503")
    assert answer.status == 503 and answer.json()["reason"] == "keys_unavailable"
    assert dev.stderr.count("which dev does not serve") == 1
    assert "Verifier.from_env(...)" in dev.stderr  # the fix for a plain WSGI app



def test_dev_names_the_fix_for_a_plain_verifier_before_any_request(
        tmp_path: pathlib.Path) -> None:
    """A plain ``Verifier(host)`` never reads POMERIUM_JWKS_URL: dev says so at start-up
    and names ``Verifier.from_env`` (no request is made, so no real host is looked up)."""
    write(tmp_path, "plainapp.py", '''
        from pomerium_wsgi import PomeriumMiddleware, Verifier

        def hello(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello"]

        app = PomeriumMiddleware(hello, Verifier("app.example.com"))
        ''')
    with Dev("plainapp:app", cwd=tmp_path) as dev:
        dev.wait_for("the app fetches its keys from "
                     "https://app.example.com/.well-known/pomerium/jwks.json")
    assert "build its verifier with Verifier.from_env(...)" in dev.stderr

def test_dev_reload_restarts_on_a_change_at_the_same_address(
        project: pathlib.Path) -> None:
    with Dev("echoapp:app", "--reload", cwd=project) as dev:
        assert dev.wait_ready().json()["version"] == "v1"
        source = project / "echoapp.py"
        source.write_text(source.read_text().replace('"v1"', '"v2"'))
        later = time.time() + 5
        os.utime(source, (later, later))  # a new mtime even on a coarse clock
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = dev.request()
                if answer.json()["version"] == "v2":
                    break
            except (ConnectionError, OSError):
                pass
            assert time.monotonic() < deadline, dev.stderr
            time.sleep(0.2)
        assert dev.process.poll() is None  # the same supervisor, the same port
        assert "echoapp.py changed; restarting" in dev.stderr
        assert dev.stop() == 0
    assert dev.stdout.count("stopped") == 1
    assert dev.all_gone()  # the reloader's child too


def test_dev_reload_waits_for_a_fix_after_an_import_error(tmp_path: pathlib.Path) -> None:
    source = write(tmp_path, "fixme.py", "raise ImportError('not yet')\n")
    with Dev("fixme:app", "--reload", cwd=tmp_path) as dev:
        dev.wait_for("waiting for a change")
        assert "ImportError: not yet" in dev.stderr
        write(tmp_path, "fixme.py", ECHO_APP)
        later = time.time() + 5
        os.utime(source, (later, later))
        assert dev.wait_ready().status == 200
        assert dev.stop() == 0


@pytest.mark.parametrize(
    "signum, ignore_sigint, reload",
    [(signal.SIGINT, False, False), (signal.SIGINT, True, False),
     (signal.SIGTERM, False, False), (signal.SIGINT, True, True),
     (signal.SIGTERM, False, True)],
    ids=["ctrl-c", "ctrl-c-started-in-background", "sigterm", "reload-ctrl-c-background",
         "reload-sigterm"])
def test_dev_stops_cleanly(signum: int, ignore_sigint: bool, reload: bool,
                           project: pathlib.Path) -> None:
    options = ["--reload"] if reload else []
    with Dev("echoapp:app", *options, cwd=project, ignore_sigint=ignore_sigint) as dev:
        assert dev.wait_ready().status == 200
        assert dev.stop(signum) == 0
    assert dev.stdout.count("pomerium-wsgi dev: stopped") == 1, dev.stdout
    assert "Traceback" not in dev.stderr
    assert dev.all_gone()


@pytest.mark.parametrize("body, content_type", [
    (b'{"type":"about:blank","status":401,"reason":"audience"}', "application/problem+json"),
    (b"401 Unauthorized: wrong audience (reason: audience)\n", "text/plain"),
], ids=["problem-json", "text"])
def test_dev_reads_the_reason_from_a_refusal_body(body: bytes, content_type: str,
                                                  tmp_path: pathlib.Path) -> None:
    """An app that refuses on its own (no core signal, no Verifier to look at)."""
    write(tmp_path, "refuser.py", f'''
        def app(environ, start_response):
            start_response("401 Unauthorized", [("Content-Type", {content_type!r})])
            return [{body!r}]
        ''')
    with Dev("refuser:app", cwd=tmp_path) as dev:
        assert dev.wait_ready().status == 401
        assert dev.request("/again").status == 401
        dev.wait_for("GET /again 401")
    assert dev.stderr.count("as 'audience': restart dev with --audience set to") == 1
