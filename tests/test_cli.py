"""The ``pomerium-wsgi`` command, driven as a user drives it: in a subprocess.

Each subcommand runs as ``python -m pomerium_wsgi ...``; exit codes, stdout and stderr are
checked. Tokens ``mint`` and FakePomerium produce are checked independently with PyJWT,
and ``verify``'s verdict is compared with ``Verifier.verify`` on the same tokens.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import signal
import stat
import subprocess
import sys
import time
import typing as t
import urllib.error
import urllib.request

import jwt
import pytest

from pomerium_wsgi import VerificationError, Verifier
from pomerium_wsgi.cli import CHECK_NAMES, examine
from pomerium_wsgi.keys import pomerium_kid
from pomerium_wsgi.testing import FakePomerium, SigningKey

from .conftest import ROOT, free_port

#: The claims Pomerium puts in every token, exactly.
POMERIUM_CLAIMS = {"iss", "aud", "jti", "iat", "exp", "sub", "user", "email", "groups", "sid",
                   "name"}
#: Checks reported for a Pomerium token (it carries no nbf).
REPORTED = [name for name in CHECK_NAMES if name != "not_before"]
NOW = 1_700_000_000


def run(*args: str, stdin: str | None = None, cwd: pathlib.Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pomerium_wsgi *args``; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "pomerium_wsgi", *args], input=stdin, capture_output=True,
        text=True, timeout=timeout, cwd=cwd or ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pomerium-wsgi")


def assert_token_not_shown(token: str, *outputs: str) -> None:
    signature = token.rsplit(".", 1)[1]
    for output in outputs:
        assert token not in output
        assert signature[:16] not in output


@pytest.fixture
def fake() -> FakePomerium:
    return FakePomerium(clock=lambda: NOW)


@pytest.fixture
def jwks_file(fake: FakePomerium, tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(fake.jwks))
    return path


def verify_json(token: str, *options: str) -> tuple[int, dict[str, t.Any], str]:
    result = run("verify", "-", "--json", *options, stdin=token)
    assert "Traceback" not in result.stderr
    assert_token_not_shown(token, result.stdout, result.stderr)
    return result.returncode, json.loads(result.stdout), result.stderr


def failed(report: dict[str, t.Any]) -> list[str]:
    return [c["name"] for c in report["checks"] if c["status"] == "fail"]


# -- verify ----------------------------------------------------------------------------


def test_verify_valid_token_from_jwks_file(fake: FakePomerium, jwks_file: pathlib.Path) -> None:
    token = fake.token("ada@example.com", ["admins"])
    code, report, _ = verify_json(token, "--audience", "app.example.com", "--jwks",
                                  str(jwks_file), "--now", str(NOW + 10))
    assert code == 0
    assert report["valid"] is True and "reason" not in report  # absent when valid
    assert [c["name"] for c in report["checks"]] == REPORTED
    assert all(c["status"] == "pass" for c in report["checks"])
    assert report["claims"]["email"] == "ada@example.com" and report["claims_verified"]
    assert report["header"] == {"alg": "ES256", "kid": fake.signing_key.kid, "typ": "JWT"}
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["audience"]["values"] == {"aud": "app.example.com",
                                             "expected": ["app.example.com"]}
    assert by_name["expiry"]["values"]["exp"] == NOW + 300
    assert by_name["key"]["values"]["kid"] == fake.signing_key.kid


def test_verify_human_output_names_every_check(fake: FakePomerium,
                                               jwks_file: pathlib.Path) -> None:
    token = fake.token("ada@example.com", ["admins"])
    result = run("verify", token, "--audience", "app.example.com", "--jwks", str(jwks_file),
                 "--now", str(NOW))
    assert result.returncode == 0, result.stderr
    for name in REPORTED:
        assert f"PASS  {name}" in result.stdout
    assert "verdict: VALID (ada@example.com)" in result.stdout
    assert '"email": "ada@example.com"' in result.stdout
    assert result.stderr == ""
    assert_token_not_shown(token, result.stdout)


def test_verify_keys_from_pem_file(tmp_path: pathlib.Path) -> None:
    fake = FakePomerium(algorithm="RS256", clock=lambda: NOW)
    pem = tmp_path / "key.pem"
    pem.write_bytes(fake.signing_key.private_pem())  # the public half is used
    code, report, _ = verify_json(fake.token(), "--audience", "app.example.com",
                                  "--jwks", str(pem), "--now", str(NOW))
    assert code == 0 and report["header"]["alg"] == "RS256"


def test_verify_keys_from_a_loopback_jwks_server() -> None:
    fake = FakePomerium()
    with fake.serve() as url:
        code, report, stderr = verify_json(fake.token("bob@example.com"),
                                           "--audience", "app.example.com", "--jwks-url", url)
    assert code == 0, stderr
    assert report["valid"] and report["keys"] == url
    assert fake.jwks_requests >= 1


@pytest.mark.parametrize(
    "make, check, reason",
    [
        (lambda f: SigningKey().sign(f.claims(), {"kid": f.signing_key.kid}),
         "signature", "signature"),
        (lambda f: f.token(exp=NOW - 3600, iat=NOW - 3900), "expiry", "expired"),
        (lambda f: f.token(aud="other.example.com"), "audience", "audience"),
        (lambda f: f.token(iss="https://evil.example.com/"), "issuer", "issuer"),
        (lambda f: f.token(iat=NOW + 3600, exp=NOW + 3900), "issued_at", "not_yet_valid"),
        (lambda f: f.token(nbf=NOW + 3600), "not_before", "not_yet_valid"),
        (lambda f: f.token(key=SigningKey()), "key", "unknown_key"),
        (lambda f: f.token(header={"alg": "HS256"}), "algorithm", "signature"),
        (lambda f: f.token(groups="admins"), "claims", "claims"),
        (lambda f: f.token(header={"crit": ["exp"]}), "structure", "malformed"),
        (lambda f: "not.a-token", "structure", "malformed"),
    ],
    ids=["forged", "expired", "wrong-audience", "wrong-issuer", "issued-in-future",
         "nbf-in-future", "unknown-kid", "hmac-alg", "groups-not-list", "crit-header",
         "garbage"],
)
def test_verify_fails_on_the_right_check(make: t.Callable[[FakePomerium], str], check: str,
                                         reason: str, fake: FakePomerium,
                                         jwks_file: pathlib.Path) -> None:
    token = make(fake)
    code, report, stderr = verify_json(token, "--audience", "app.example.com",
                                       "--jwks", str(jwks_file), "--now", str(NOW))
    assert code == 1
    assert report["valid"] is False and report["reason"] == reason
    assert check in failed(report)
    # The verdict is the library's own, for the same token, keys and instant.
    with pytest.raises(VerificationError) as info:
        fake.verifier().verify(token)
    assert info.value.reason == reason
    assert stderr.strip() == f"pomerium-wsgi verify: invalid token ({reason}): " \
                             f"{info.value.message}"


def test_forged_token_reports_unverified_claims(fake: FakePomerium,
                                                jwks_file: pathlib.Path) -> None:
    forged = SigningKey().sign(fake.claims("mallory@example.com", ["admins"]),
                               {"kid": fake.signing_key.kid})
    code, report, _ = verify_json(forged, "--audience", "app.example.com",
                                  "--jwks", str(jwks_file), "--now", str(NOW))
    assert code == 1 and failed(report) == ["signature"]
    assert report["claims_verified"] is False
    result = run("verify", "-", "--audience", "app.example.com", "--jwks", str(jwks_file),
                 "--now", str(NOW), stdin=forged)
    assert "claims (NOT verified: do not trust them)" in result.stdout


def test_now_examines_an_old_token(tmp_path: pathlib.Path, jwks_file: pathlib.Path,
                                   fake: FakePomerium) -> None:
    token = fake.token()
    args = ("--audience", "app.example.com", "--jwks", str(jwks_file))
    assert verify_json(token, *args)[0] == 1  # long expired today
    iso = "2023-11-14T22:15:00Z"  # NOW + 100 s
    code, report, _ = verify_json(token, *args, "--now", iso)
    assert code == 0 and report["now"] == NOW + 100


@pytest.mark.parametrize("lifetime_offset, valid", [(299, True), (330, True), (331, False)],
                         ids=["before-exp", "within-leeway", "past-leeway"])
def test_verdict_agrees_with_verifier_at_the_edges(lifetime_offset: int, valid: bool,
                                                   fake: FakePomerium,
                                                   jwks_file: pathlib.Path) -> None:
    token = fake.token()
    when = NOW + lifetime_offset
    code, report, _ = verify_json(token, "--audience", "app.example.com",
                                  "--jwks", str(jwks_file), "--now", str(when))
    verifier = fake.verifier(clock=lambda: when)
    try:
        verifier.verify(token)
        expected = True
    except VerificationError:
        expected = False
    assert report["valid"] is expected is valid
    assert code == (0 if valid else 1)


def _agreement_tokens() -> list[tuple[str, t.Callable[[FakePomerium], str]]]:
    other = SigningKey()
    return [
        ("plain", lambda f: f.token()),
        ("uri-issuer", lambda f: f.token(iss="https://app.example.com/")),
        ("aud-list", lambda f: f.token(aud=["x.example.com", "APP.example.com"])),
        ("groups-null", lambda f: f.token(groups=None)),
        ("no-sub", lambda f: f.token(sub=None, user=None)),
        ("exp-bool", lambda f: f.token(exp=True)),
        ("name-number", lambda f: f.token(name=5)),
        ("typ-other", lambda f: f.token(header={"typ": "at+jwt"})),
        ("no-kid", lambda f: f.signing_key.sign(f.claims(), {"kid": ""})),
        ("other-key", lambda f: other.sign(f.claims(), {"kid": f.signing_key.kid})),
        ("padded", lambda f: f.token() + "="),
        ("two-segments", lambda f: f.token().rsplit(".", 1)[0]),
        ("nbf-past", lambda f: f.token(nbf=NOW - 10)),
        ("nbf-string", lambda f: f.token(nbf="soon")),
    ]


@pytest.mark.parametrize("make", [m for _, m in _agreement_tokens()],
                         ids=[n for n, _ in _agreement_tokens()])
def test_examine_agrees_with_verifier(make: t.Callable[[FakePomerium], str],
                                      fake: FakePomerium) -> None:
    """Every check passes exactly when the Verifier accepts (no disagreement note)."""
    token = make(fake)
    verifier = fake.verifier(token_cache_size=0, clock=lambda: NOW)
    report = examine(token, verifier, NOW, "test keys")
    try:
        fake.verifier().verify(token)
        expected = True
    except VerificationError:
        expected = False
    assert report.valid is expected
    assert report.notes == []
    assert all(c.status != "fail" for c in report.checks) is expected


# -- errors: one line on stderr, never a traceback -------------------------------------


def test_unreachable_jwks_url_is_a_configuration_error(fake: FakePomerium) -> None:
    url = f"http://127.0.0.1:{free_port()}/.well-known/pomerium/jwks.json"
    result = run("verify", "-", "--audience", "app.example.com", "--jwks-url", url,
                 "--json", stdin=fake.token())
    assert_one_line_error(result, 2)
    assert "cannot get keys from" in result.stderr
    report = json.loads(result.stdout)
    assert report["reason"] == "keys_unavailable" and "key" in failed(report)


@pytest.mark.parametrize(
    "args, stdin, code, message",
    [
        (["verify", "-", "--audience", "app.example.com", "--jwks", "missing.json"], "a.b.c",
         2, "cannot read keys file"),
        (["verify", "-", "--jwks", "x.json"], "a.b.c", 2, "--audience"),
        (["verify", "-", "--audience", "app.example.com"], "  \n", 2, "no token given"),
        (["verify", "a.b.c", "--audience", "app.example.com", "--jwks-url",
          "http://example.com/jwks"], None, 2, "plain http"),
        (["verify", "a.b.c", "--audience", "app.example.com", "--now", "yesterday"], None, 2,
         "--now"),
        (["verify", "!!", "--audience", "app.example.com", "--jwks", "{jwks}"], None, 1,
         "invalid token (malformed)"),
        (["mint", "--key", "missing.pem", "--audience", "app.example.com"], None, 2,
         "cannot read key file"),
        (["mint", "--key", "{jwks}", "--audience", "app.example.com"], None, 2,
         "not a private key"),
        (["mint", "--key", "{key}", "--audience", "app.example.com", "--claim", "novalue"],
         None, 2, "NAME=VALUE"),
        (["mint", "--key", "{key}", "--audience", "app.example.com", "--lifetime", "0"],
         None, 2, "--lifetime"),
        (["keygen", "--algorithm", "HS256"], None, 2, "invalid choice"),
        (["dev", "no_such_module_here:app", "--port", "0"], None, 2, "cannot import"),
        (["dev", "tests.cli_app", "--port", "0"], None, 2, "MODULE:APP"),
        (["dev", "tests.cli_app:nope", "--port", "0"], None, 2, "no attribute 'nope'"),
        (["dev", "tests.cli_app:json", "--port", "0"], None, 2, "not a WSGI application"),
        (["dev", "tests.cli_app:app", "--host", "0.0.0.0", "--port", "0"], None, 2,
         "not a loopback address"),
        (["frobnicate"], None, 2, "invalid choice"),
    ],
    ids=["unreadable-jwks-file", "no-audience", "empty-stdin", "http-jwks-url", "bad-now",
         "unparseable-token", "unreadable-key", "public-key-for-mint", "bad-claim",
         "bad-lifetime", "bad-algorithm", "dev-missing-module", "dev-no-colon",
         "dev-missing-attribute", "dev-not-callable", "dev-public-host", "unknown-command"],
)
def test_errors_are_one_line(args: list[str], stdin: str | None, code: int, message: str,
                             tmp_path: pathlib.Path, fake: FakePomerium,
                             jwks_file: pathlib.Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(fake.signing_key.private_pem())
    args = [a.format(jwks=jwks_file, key=key) for a in args]
    result = run(*args, stdin=stdin)
    assert_one_line_error(result, code)
    assert message in result.stderr


def test_dev_port_in_use_is_one_line() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("dev", "tests.cli_app:app", "--port", str(port))
    assert_one_line_error(result, 2)
    assert "cannot listen on" in result.stderr


# -- keygen ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm, kty", [("ES256", "EC"), ("RS256", "RSA")],
                         ids=["es256", "rs256"])
def test_keygen_writes_a_private_key_and_prints_its_jwks(algorithm: str, kty: str,
                                                         tmp_path: pathlib.Path) -> None:
    out = tmp_path / "signing-key.pem"
    result = run("keygen", "--algorithm", algorithm, "--out", str(out))
    assert result.returncode == 0, result.stderr
    jwks = json.loads(result.stdout)
    (entry,) = jwks["keys"]
    assert entry["kty"] == kty and entry["alg"] == algorithm and entry["use"] == "sig"
    assert entry["kid"] == pomerium_kid(entry) and len(entry["kid"]) == 64
    assert not {"d", "p", "q"} & set(entry)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = SigningKey.from_pem(out.read_bytes())
    assert key.kid == entry["kid"] and key.algorithm == algorithm
    # Never over an existing key.
    again = run("keygen", "--out", str(out))
    assert_one_line_error(again, 2)
    assert SigningKey.from_pem(out.read_bytes()).kid == entry["kid"]


def test_keygen_base64_is_pomeriums_signing_key_form() -> None:
    result = run("keygen", "--base64")
    assert result.returncode == 0, result.stderr
    secret, _, jwks_text = result.stdout.partition("\n")
    pem = base64.b64decode(secret, validate=True)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert SigningKey.from_pem(pem).kid == json.loads(jwks_text)["keys"][0]["kid"]


# -- mint ------------------------------------------------------------------------------


def test_mint_prints_a_pomerium_shaped_token_pyjwt_accepts(tmp_path: pathlib.Path) -> None:
    key = SigningKey()
    (tmp_path / "key.pem").write_bytes(key.private_pem())
    result = run("mint", "--key", "key.pem", "--audience", "app.example.com",
                 "--email", "ada@example.com", "--group", "admins", "--group", "staff",
                 "--claim", "department=engineering", "--claim", "level=3",
                 "--claim", 'teams=["a","b"]', "--lifetime", "120", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    public = jwt.PyJWK(key.public_jwk())
    claims = jwt.decode(token, public.key, algorithms=["ES256"], audience="app.example.com",
                        issuer="app.example.com")
    assert set(claims) == POMERIUM_CLAIMS | {"department", "level", "teams"}
    assert claims["email"] == "ada@example.com" and claims["groups"] == ["admins", "staff"]
    assert claims["department"] == "engineering" and claims["level"] == 3
    assert claims["teams"] == ["a", "b"] and claims["exp"] - claims["iat"] == 120
    assert claims["sub"] == claims["user"]
    # ... and the library agrees.
    identity = Verifier("app.example.com", jwks={"keys": [key.public_jwk()]}).verify(token)
    assert identity.in_all_groups("admins", "staff")


def test_mint_rs256_base64_key_uri_issuer_and_claim_overrides(tmp_path: pathlib.Path) -> None:
    key = SigningKey("RS256")
    (tmp_path / "key.b64").write_bytes(base64.b64encode(key.private_pem()))
    result = run("mint", "--key", "key.b64", "--audience", "https://App.example.com/",
                 "--issuer-format", "uri", "--claim", "user=u-1", "--claim", "name=null",
                 "--claim", "email=boss@example.com", "--now", str(NOW), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = jwt.decode(token, jwt.PyJWK(key.public_jwk()).key, algorithms=["RS256"],
                        audience="app.example.com", issuer="https://app.example.com/",
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["sub"] == claims["user"] == "u-1" and "name" not in claims
    assert claims["email"] == "boss@example.com" and claims["iat"] == NOW
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_fake_pomerium_tokens_verify_with_pyjwt() -> None:
    for algorithm in ("ES256", "RS256"):
        other = FakePomerium(algorithm=algorithm)
        token = other.token("ada@example.com", ["admins"])
        (jwk,) = jwt.PyJWKSet.from_dict(other.jwks).keys
        assert jwk.key_id == other.signing_key.kid
        claims = jwt.decode(token, jwk.key, algorithms=[algorithm], audience="app.example.com",
                            issuer="app.example.com")
        assert set(claims) == POMERIUM_CLAIMS and claims["exp"] - claims["iat"] == 300
        assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": jwk.key_id,
                                                    "typ": "JWT"}


def test_mint_then_verify_round_trip(tmp_path: pathlib.Path) -> None:
    assert run("keygen", "--out", "k.pem", cwd=tmp_path).returncode == 0
    keygen = run("keygen", "--out", "k2.pem", cwd=tmp_path)
    (tmp_path / "jwks.json").write_text(keygen.stdout)
    minted = run("mint", "--key", "k2.pem", "--audience", "app.example.com", cwd=tmp_path)
    token = minted.stdout.strip()
    ok = run("verify", "-", "--audience", "app.example.com", "--jwks", "jwks.json",
             stdin=token, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = run("verify", "-", "--audience", "app.example.com", "--jwks", "k.pem",
                stdin=token, cwd=tmp_path)
    assert wrong.returncode == 1 and "FAIL  key" in wrong.stdout


# -- dev -------------------------------------------------------------------------------


def _get_json(url: str) -> dict[str, t.Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return t.cast(dict[str, t.Any], json.loads(response.read()))


@contextlib.contextmanager
def dev_server(*args: str, cwd: pathlib.Path = ROOT, stop: int = signal.SIGTERM,
               ) -> t.Iterator[tuple[subprocess.Popen[str], str, dict[str, t.Any]]]:
    """Start ``dev`` on a free port; yield it once it answers, with its first answer.

    It is stopped with *stop* (SIGTERM as a process manager would, or SIGINT as Ctrl-C).
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pomerium_wsgi", "dev", *args, "--port", str(port)],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"dev exited early: {process.communicate()}")
            try:
                first = _get_json(url)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise AssertionError("dev did not answer within 60 s") from None
                time.sleep(0.2)
        yield process, url, first
    finally:
        if process.poll() is None:
            process.send_signal(stop)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)


def test_dev_serves_an_app_end_to_end_with_a_fresh_identity() -> None:
    with dev_server("tests.cli_app:app", "--email", "ada@example.com", "--group", "admins",
                    "--group", "staff", "--claim", "department=engineering",
                    "--audience", "dev.example.com") as (process, url, first):
        second = _get_json(url)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    for answer in (first, second):
        assert answer["email"] == "ada@example.com" == answer["remote_user"]
        assert answer["groups"] == ["admins", "staff"]
        assert answer["claims"]["department"] == "engineering"
        assert answer["claims"]["aud"] == "dev.example.com"
        # The app verified against the local JWKS server dev started, over real HTTP.
        assert answer["jwks_url"].startswith("http://127.0.0.1:")
        assert answer["keys"] == f"RemoteJWKS({answer['jwks_url']!r})"
    assert first["claims"]["jti"] != second["claims"]["jti"]  # a fresh token per request
    assert "ada@example.com" in stdout and url in stdout
    assert f"POMERIUM_JWKS_URL={first['jwks_url']}" in stdout
    assert "stopped" in stdout and "Traceback" not in stderr


def test_dev_runs_the_wsgi_example_and_stops_on_ctrl_c() -> None:
    with dev_server("examples.wsgi.app:app", "--email", "demo@example.com",
                    "--group", "admins", stop=signal.SIGINT) as (process, url, first):
        assert first["email"] == "demo@example.com" and first["groups"] == ["admins"]
        with urllib.request.urlopen(url + "admin", timeout=10) as response:
            assert response.status == 200 and b"demo@example.com" in response.read()
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "stopped" in stdout and "Traceback" not in stderr


def test_verify_exit_status_survives_a_closed_pipe(tmp_path: pathlib.Path) -> None:
    """`verify ... | head` must still exit 1 for an invalid token (the reader hung up)."""
    from pomerium_wsgi.testing import FakePomerium

    fake = FakePomerium("other.example.com")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(fake.jwks))
    token = fake.token(groups=[f"group-{i:04d}-{'x' * 60}" for i in range(300)])
    process = subprocess.Popen(
        [sys.executable, "-m", "pomerium_wsgi", "verify", "-", "--audience", "app.example.com",
         "--jwks", str(jwks)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(token.encode())
    process.stdin.close()
    process.stdout.readline()
    process.stdout.close()  # like `| head -n1`
    assert process.wait(60) == 1
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert "Traceback" not in stderr and token not in stderr
