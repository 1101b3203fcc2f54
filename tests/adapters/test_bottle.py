"""bottle_pomerium against real Bottle apps, driven through werkzeug's test Client."""

from __future__ import annotations

import json
import threading
import time
import typing as t

import bottle
import pytest
from werkzeug.test import Client, TestResponse

from bottle_pomerium import (
    PomeriumHTTPError,
    PomeriumPlugin,
    RouteRequirement,
    current_identity,
    require_all_groups,
    require_claim,
    require_email,
    require_email_domain,
    require_group,
    require_identity,
    requires,
)
from pomerium_wsgi import (
    ConfigurationError,
    Identity,
    MissingToken,
    Requirement,
    TokenExpired,
    Verifier,
)
from pomerium_wsgi import require_group as core_require_group
from pomerium_wsgi.signals import access_denied, identity_verified, verification_failed
from pomerium_wsgi.testing import FakePomerium
from tests.conftest import free_port

from ..helpers import REFUSAL_BY_ACCEPT

Receiver = t.Callable[..., None]


def make_app(pomerium: FakePomerium, **options: t.Any) -> bottle.Bottle:
    """An app with the plugin and a few routes covering the per-route options."""
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier(), **options))

    @app.get("/")
    def home() -> dict[str, t.Any]:
        identity = current_identity()
        return {"email": identity.email if identity else None,
                "remote_user": bottle.request.environ.get("REMOTE_USER"),
                "claim_header": bottle.request.get_header("X-Pomerium-Claim-Email")}

    @app.get("/admin", pomerium=require_group("admins"))
    def admin() -> str:
        return "admin area"

    @app.get("/core", pomerium=core_require_group("ops") & require_email_domain("example.com"))
    def core() -> str:
        return "core requirement"

    @app.get("/healthz", skip=["pomerium"])
    def healthz() -> str:
        return "ok"

    return app


def expired_token(pomerium: FakePomerium) -> str:
    now = int(time.time())
    return pomerium.token(iat=now - 4000, exp=now - 3700)


def collect(signal: t.Any, sender: object) -> tuple[list[dict[str, t.Any]], Receiver]:
    """A receiver recording its calls, for ``signal.connected_to``."""
    calls: list[dict[str, t.Any]] = []

    def receiver(sent_by: object, **kwargs: t.Any) -> None:
        calls.append({"sender": sent_by, **kwargs})

    return calls, receiver


# -- verification and route requirements ---------------------------------------------------


@pytest.mark.parametrize(
    "path, groups, email, status",
    [
        ("/", None, "ada@example.com", 401),
        ("/", [], "ada@example.com", 200),
        ("/admin", ["staff"], "ada@example.com", 403),
        ("/admin", ["admins"], "ada@example.com", 200),
        ("/admin", [], "ada@example.com", 403),
        ("/core", ["ops"], "ada@example.com", 200),
        ("/core", ["ops"], "ada@evil.example", 403),
        ("/core", ["staff"], "ada@example.com", 403),
        ("/admin", None, "ada@example.com", 401),
    ],
    ids=["no-token", "any-identity", "group-denied", "group-allowed", "no-groups-denied",
         "core-requirement-allowed", "core-requirement-wrong-domain",
         "core-requirement-wrong-group", "requirement-without-token"],
)
def test_route_config_allow_and_deny(pomerium: FakePomerium, path: str,
                                     groups: list[str] | None, email: str,
                                     status: int) -> None:
    headers = pomerium.headers(email, groups) if groups is not None else {}
    assert Client(make_app(pomerium)).get(path, headers=headers).status_code == status


def test_identity_reaches_callback(pomerium: FakePomerium) -> None:
    response = Client(make_app(pomerium)).get(
        "/", headers={"X-Pomerium-Claim-Email": "forged@evil.example",
                      **pomerium.headers("ada@example.com")})
    assert response.status_code == 200
    assert response.json == {"email": "ada@example.com", "remote_user": "ada@example.com",
                             "claim_header": None}


def test_remote_user_can_be_left_alone(pomerium: FakePomerium) -> None:
    response = Client(make_app(pomerium, remote_user=None)).get(
        "/", headers=pomerium.headers("ada@example.com"))
    assert response.json["remote_user"] is None


def test_custom_header(pomerium: FakePomerium) -> None:
    client = Client(make_app(pomerium, header="X-Identity"))
    token = pomerium.token("ada@example.com")
    assert client.get("/", headers={"X-Identity": token}).status_code == 200
    assert client.get("/", headers={"X-Pomerium-Jwt-Assertion": token}).status_code == 401


@pytest.mark.parametrize(
    "token_kind, reason",
    [("missing", "missing"), ("garbage", "malformed"), ("expired", "expired"),
     ("other-audience", "audience")],
    ids=["missing", "malformed", "expired", "other-audience"],
)
def test_refusal_is_problem_json_without_token(pomerium: FakePomerium, token_kind: str,
                                               reason: str) -> None:
    token = {
        "missing": "",
        "garbage": "Zm9vYmFyYmF6cXV4.Zm9vYmFyYmF6cXV4",
        "expired": expired_token(pomerium),
        "other-audience": pomerium.token(aud="other.example.com"),
    }[token_kind]
    headers = {"Accept": "application/json"}
    if token:
        headers["X-Pomerium-Jwt-Assertion"] = token
    response = Client(make_app(pomerium)).get("/", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["WWW-Authenticate"].startswith("Pomerium")
    assert response.json["reason"] == reason and response.json["status"] == 401
    if token:
        assert token not in response.get_data(as_text=True)
        assert all(part not in response.get_data(as_text=True) for part in token.split("."))


def test_refusal_is_text_by_default(pomerium: FakePomerium) -> None:
    response = Client(make_app(pomerium)).get("/admin", headers=pomerium.headers(groups=["x"]))
    assert response.status_code == 403
    assert response.mimetype == "text/plain"
    assert "membership of group 'admins'" in response.get_data(as_text=True)
    assert "(reason: forbidden)" in response.get_data(as_text=True)


def test_keys_unavailable_is_503_with_retry_after(pomerium: FakePomerium) -> None:
    closed = f"http://127.0.0.1:{free_port()}/.well-known/pomerium/jwks.json"
    app = bottle.Bottle()
    app.install(PomeriumPlugin(audience=pomerium.audience, jwks_url=closed, timeout=2.0))

    @app.get("/")
    def home() -> str:
        return "never"

    response = Client(app).get("/", headers=pomerium.headers())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "keys_unavailable" in response.get_data(as_text=True)


# -- skip ---------------------------------------------------------------------------------


@pytest.mark.parametrize("skip", ["name", "class", "instance", "all"],
                         ids=["by-name", "by-class", "by-instance", "skip-true"])
def test_skip_exempts_route(pomerium: FakePomerium, skip: str) -> None:
    app = bottle.Bottle()
    plugin = app.install(PomeriumPlugin(pomerium.verifier()))
    skiplist = {"name": ["pomerium"], "class": [PomeriumPlugin], "instance": [plugin],
                "all": True}[skip]

    @app.get("/open", skip=skiplist)
    def open_route() -> str:
        return f"identity: {current_identity()}"

    @app.get("/closed")
    def closed() -> str:
        return "closed"

    client = Client(app)
    assert client.get("/open", headers=pomerium.headers()).text == "identity: None"
    assert client.get("/closed").status_code == 401


def test_skipped_route_ignores_token(pomerium: FakePomerium) -> None:
    client = Client(make_app(pomerium))
    assert client.get("/healthz", headers={"X-Pomerium-Jwt-Assertion": "junk"}).text == "ok"


# -- decorators ---------------------------------------------------------------------------


DECORATED: dict[str, t.Callable[[t.Callable[..., t.Any]], t.Callable[..., t.Any]]] = {
    "identity-bare": require_identity,
    "identity-called": require_identity(),
    "group": require_group("admins", "ops"),
    "all-groups": require_all_groups("admins", "ops"),
    "email": require_email("Ada@Example.com"),
    "email-domain": require_email_domain("example.com"),
    "claim-value": require_claim("department", "research"),
    "claim-predicate": require_claim("level", lambda v: isinstance(v, int) and v >= 3),
    "requires-combined": requires(core_require_group("ops") | core_require_group("admins")),
}


@pytest.mark.parametrize(
    "decorator, email, groups, claims, status",
    [
        ("identity-bare", "bob@example.com", [], {}, 200),
        ("identity-called", "bob@example.com", [], {}, 200),
        ("group", "bob@example.com", ["ops"], {}, 200),
        ("group", "bob@example.com", ["staff"], {}, 403),
        ("all-groups", "bob@example.com", ["admins", "ops"], {}, 200),
        ("all-groups", "bob@example.com", ["admins"], {}, 403),
        ("email", "ada@example.com", [], {}, 200),
        ("email", "bob@example.com", [], {}, 403),
        ("email-domain", "bob@example.com", [], {}, 200),
        ("email-domain", "bob@example.com.evil", [], {}, 403),
        ("claim-value", "bob@example.com", [], {"department": "research"}, 200),
        ("claim-value", "bob@example.com", [], {"department": "sales"}, 403),
        ("claim-predicate", "bob@example.com", [], {"level": 4}, 200),
        ("claim-predicate", "bob@example.com", [], {"level": 1}, 403),
        ("requires-combined", "bob@example.com", ["admins"], {}, 200),
        ("requires-combined", "bob@example.com", ["staff"], {}, 403),
    ],
    ids=["identity-bare", "identity-called", "group-allowed", "group-denied",
         "all-groups-allowed", "all-groups-denied", "email-allowed", "email-denied",
         "domain-allowed", "domain-lookalike-denied", "claim-allowed", "claim-denied",
         "predicate-allowed", "predicate-denied", "combined-allowed", "combined-denied"],
)
def test_decorators(pomerium: FakePomerium, decorator: str, email: str, groups: list[str],
                    claims: dict[str, t.Any], status: int) -> None:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier(), optional=True))

    @app.get("/")
    @DECORATED[decorator]
    def view() -> str:
        return f"hello {current_identity()}"

    client = Client(app)
    response = client.get("/", headers=pomerium.headers(email, groups, **claims))
    assert response.status_code == status
    if status == 200:
        assert response.text == f"hello {email}"
    # Anonymous callers are 401 (not 403) whatever the requirement.
    assert client.get("/").status_code == 401


def test_decorator_reports_why_the_token_was_refused(pomerium: FakePomerium) -> None:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier(), optional=True))

    @app.get("/")
    @require_identity
    def view() -> str:
        return "never"

    response = Client(app).get("/", headers={"Accept": "application/json",
                                             "X-Pomerium-Jwt-Assertion":
                                                 expired_token(pomerium)})
    assert response.status_code == 401 and response.json["reason"] == "expired"


def test_decorator_fails_closed_without_plugin(pomerium: FakePomerium) -> None:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier()))

    @app.get("/skipped", skip=["pomerium"])
    @require_group("admins")
    def skipped() -> str:
        return "never"

    response = Client(app).get("/skipped", headers=pomerium.headers(groups=["admins"]))
    assert response.status_code == 401


def test_route_requirement_is_a_requirement(pomerium: FakePomerium) -> None:
    admins = require_group("admins")
    identity = pomerium.verifier().verify(pomerium.token(groups=["admins"]))
    assert isinstance(admins, Requirement) and isinstance(admins, RouteRequirement)
    assert admins(identity) is True and admins(None) is False
    assert str(admins) == "membership of group 'admins'"
    assert (admins & require_email("x@example.com"))(identity) is False
    assert (admins | require_email("x@example.com"))(identity) is True
    with pytest.raises(TypeError):
        admins(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        requires("admins")  # type: ignore[arg-type]


def test_decorator_keeps_callback_metadata() -> None:
    @require_group("admins")
    def view(name: str) -> str:
        """Docstring."""
        return name

    assert view.__name__ == "view" and view.__doc__ == "Docstring."
    assert str(view.pomerium_requirement) == "membership of group 'admins'"  # type: ignore[attr-defined]


def test_route_url_arguments_pass_through(pomerium: FakePomerium) -> None:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier()))

    @app.get("/hello/<name>", pomerium=require_identity())
    @require_identity
    def hello(name: str) -> str:
        return f"hello {name}"

    assert Client(app).get("/hello/ada", headers=pomerium.headers()).text == "hello ada"


# -- error handlers -----------------------------------------------------------------------


def test_error_handlers_apply(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    seen: list[PomeriumHTTPError] = []

    @app.error(401)
    def unauthorized(error: bottle.HTTPError) -> str:
        assert isinstance(error, PomeriumHTTPError)
        seen.append(error)
        return f"please sign in ({error.reason})"

    @app.error(403)
    def forbidden(error: bottle.HTTPError) -> str:
        assert isinstance(error, PomeriumHTTPError)
        seen.append(error)
        return f"no entry: {error.body}"

    client = Client(app)
    token = expired_token(pomerium)
    response = client.get("/", headers={"X-Pomerium-Jwt-Assertion": token})
    assert response.status_code == 401
    assert response.text == "please sign in (expired)"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["WWW-Authenticate"].startswith("Pomerium")
    assert isinstance(seen[-1].exception, TokenExpired)
    assert token not in response.text

    response = client.get("/admin", headers=pomerium.headers(groups=["staff"]))
    assert response.status_code == 403
    assert response.text == "no entry: access requires membership of group 'admins'"
    assert seen[-1].reason == "forbidden" and seen[-1].exception.identity is not None


def test_error_handler_for_decorators(pomerium: FakePomerium) -> None:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier(), optional=True))

    @app.error(401)
    def unauthorized(error: bottle.HTTPError) -> str:
        return f"sign in: {type(error.exception).__name__}"

    @app.get("/")
    @require_identity
    def view() -> str:
        return "never"

    response = Client(app).get("/")
    assert response.status_code == 401 and response.text == f"sign in: {MissingToken.__name__}"


def test_user_raised_errors_are_untouched(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)

    @app.get("/teapot")
    def teapot() -> str:
        bottle.abort(401, "custom")
        return "never"

    response = Client(app).get("/teapot", headers=pomerium.headers())
    assert response.status_code == 401 and "custom" in response.text
    assert response.mimetype == "text/html"  # Bottle's own error page, not ours


# -- optional mode ------------------------------------------------------------------------


def test_optional_mode(pomerium: FakePomerium) -> None:
    client = Client(make_app(pomerium, optional=True))
    assert client.get("/").json["email"] is None
    bad = {"X-Pomerium-Jwt-Assertion": expired_token(pomerium)}
    assert client.get("/", headers=bad).json["email"] is None
    assert client.get("/", headers=pomerium.headers("ada@example.com")).json["email"] == (
        "ada@example.com")
    # A route requirement still needs an identity.
    assert client.get("/admin").status_code == 401
    assert client.get("/admin", headers=bad).status_code == 401
    assert client.get("/admin", headers=pomerium.headers(groups=["admins"])).status_code == 200


# -- signals ------------------------------------------------------------------------------


def test_signals_are_sent_with_the_app_as_sender(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    client = Client(app)
    verified, on_verified = collect(identity_verified, app)
    failed, on_failed = collect(verification_failed, app)
    denied, on_denied = collect(access_denied, app)
    with identity_verified.connected_to(on_verified, sender=app), \
            verification_failed.connected_to(on_failed, sender=app), \
            access_denied.connected_to(on_denied, sender=app):
        client.get("/", headers=pomerium.headers("ada@example.com"))
        client.get("/")
        client.get("/admin", headers=pomerium.headers("bob@example.com", ["staff"]))
        client.get("/healthz")
    assert [c["identity"].email for c in verified] == ["ada@example.com", "bob@example.com"]
    assert all(c["sender"] is app for c in verified + failed + denied)
    assert [type(c["error"]) for c in failed] == [MissingToken]
    assert len(denied) == 1 and denied[0]["identity"].email == "bob@example.com"
    assert str(denied[0]["requirement"]) == "membership of group 'admins'"
    assert denied[0]["environ"]["PATH_INFO"] == "/admin"


def test_decorator_access_denied_carries_requirement(pomerium: FakePomerium) -> None:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier()))
    requirement = core_require_group("admins")

    @app.get("/")
    @requires(requirement)
    def view() -> str:
        return "never"

    denied, on_denied = collect(access_denied, app)
    with access_denied.connected_to(on_denied, sender=app):
        assert Client(app).get("/", headers=pomerium.headers()).status_code == 403
    assert len(denied) == 1 and denied[0]["requirement"] is requirement
    assert denied[0]["sender"] is app


def test_failing_receiver_does_not_change_response(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)

    def explode(sender: object, **kwargs: t.Any) -> None:
        raise RuntimeError("receiver bug")

    with identity_verified.connected_to(explode, sender=app), \
            access_denied.connected_to(explode, sender=app):
        client = Client(app)
        assert client.get("/", headers=pomerium.headers()).status_code == 200
        assert client.get("/admin", headers=pomerium.headers()).status_code == 403


# -- mounted, merged and several apps -----------------------------------------------------


def child_app(pomerium: FakePomerium) -> bottle.Bottle:
    child = bottle.Bottle()
    child.install(PomeriumPlugin(pomerium.verifier()))

    @child.get("/who")
    def who() -> str:
        return f"child sees {current_identity()}"

    @child.get("/admin", pomerium=require_group("admins"))
    def admin() -> str:
        return "child admin"

    return child


def test_mounted_sub_app(pomerium: FakePomerium) -> None:
    parent = bottle.Bottle()

    @parent.get("/")
    def public() -> str:
        return "public parent"

    child = child_app(pomerium)
    parent.mount("/sub/", child)

    @parent.error(403)
    def forbidden(error: bottle.HTTPError) -> str:
        return "parent's 403 page"

    verified, on_verified = collect(identity_verified, child)
    client = Client(parent)
    with identity_verified.connected_to(on_verified, sender=child):
        assert client.get("/").text == "public parent"
        assert client.get("/sub/who").status_code == 401
        assert client.get("/sub/who", headers=pomerium.headers("ada@example.com")).text == (
            "child sees ada@example.com")
        response = client.get("/sub/admin", headers=pomerium.headers())
    # The parent dispatches mounted routes, so its error handlers apply.
    assert response.status_code == 403 and response.text == "parent's 403 page"
    assert [c["sender"] for c in verified] == [child, child]


def test_wsgi_mounted_sub_app(pomerium: FakePomerium) -> None:
    parent = bottle.Bottle()
    parent.install(PomeriumPlugin(pomerium.verifier()))
    child = child_app(pomerium)
    parent.mount("/legacy/", child.wsgi)  # mounted as a plain WSGI app: skipped by parent
    client = Client(parent)
    assert client.get("/legacy/who").status_code == 401
    assert client.get("/legacy/who", headers=pomerium.headers("ada@example.com")).text == (
        "child sees ada@example.com")
    assert client.get("/legacy/admin", headers=pomerium.headers(groups=["admins"])).text == (
        "child admin")


def test_merged_app_keeps_its_own_plugin(pomerium: FakePomerium) -> None:
    parent = bottle.Bottle()

    @parent.get("/")
    def public() -> str:
        return "public parent"

    child = child_app(pomerium)
    parent.merge(child)
    denied, on_denied = collect(access_denied, child)
    client = Client(parent)
    with access_denied.connected_to(on_denied, sender=child):
        assert client.get("/").text == "public parent"
        assert client.get("/who").status_code == 401
        assert client.get("/who", headers=pomerium.headers("ada@example.com")).status_code == 200
        assert client.get("/admin", headers=pomerium.headers()).status_code == 403
    assert [c["sender"] for c in denied] == [child]


def test_several_apps_in_one_process() -> None:
    fake_a = FakePomerium("a.example.com")
    fake_b = FakePomerium("b.example.com")
    apps = {}
    for name, fake in (("a", fake_a), ("b", fake_b)):
        app = bottle.Bottle()
        app.install(PomeriumPlugin(fake.verifier()))

        @app.get("/")
        def home(name: str = name) -> str:
            return f"{name}: {current_identity()}"

        apps[name] = app
    failed_b, on_failed_b = collect(verification_failed, apps["b"])
    with verification_failed.connected_to(on_failed_b, sender=apps["b"]):
        assert Client(apps["a"]).get("/", headers=fake_a.headers("ada@a.example.com")).text == (
            "a: ada@a.example.com")
        assert Client(apps["b"]).get("/", headers=fake_b.headers("bob@b.example.com")).text == (
            "b: bob@b.example.com")
        # A token minted for app a is refused by app b (audience, and an unknown key).
        assert Client(apps["b"]).get("/", headers=fake_a.headers()).status_code == 401
    assert len(failed_b) == 1 and failed_b[0]["sender"] is apps["b"]


def test_one_plugin_instance_on_two_apps(pomerium: FakePomerium) -> None:
    plugin = PomeriumPlugin(pomerium.verifier())
    apps = [bottle.Bottle(), bottle.Bottle()]
    for app in apps:
        app.install(plugin)
        app.route("/", callback=lambda: str(current_identity()))
    senders: list[object] = []
    for app in apps:
        with identity_verified.connected_to(lambda s, **kw: senders.append(s), sender=app):
            assert Client(app).get("/", headers=pomerium.headers("ada@example.com")).text == (
                "ada@example.com")
    assert senders == apps


# -- configuration ------------------------------------------------------------------------


def test_verifier_built_from_options(pomerium: FakePomerium) -> None:
    app = bottle.Bottle()
    plugin = app.install(PomeriumPlugin(audience=pomerium.audience, jwks=pomerium.jwks))
    assert isinstance(plugin.verifier, Verifier)
    app.route("/", callback=lambda: "ok")
    assert Client(app).get("/", headers=pomerium.headers()).text == "ok"


@pytest.mark.parametrize(
    "make_plugin",
    [
        lambda fake: PomeriumPlugin(),
        lambda fake: PomeriumPlugin(jwks_url="https://app.example.com/jwks.json"),
        lambda fake: PomeriumPlugin(fake.verifier(), audience="app.example.com"),
        lambda fake: PomeriumPlugin(object()),
        lambda fake: PomeriumPlugin(audience="app.example.com", algorithms=["HS256"]),
        lambda fake: PomeriumPlugin(audience="app.example.com",
                                    jwks_url="http://pomerium.example.com/jwks.json"),
        lambda fake: PomeriumPlugin(audience="app.example.com", no_such_option=1),
        lambda fake: PomeriumPlugin(fake.verifier(), header=""),
        # Not a claim name: a 500 on every verified request, before, not an error here.
        lambda fake: PomeriumPlugin(fake.verifier(), remote_user=["email"]),
    ],
    ids=["nothing", "no-audience", "verifier-and-options", "not-a-verifier",
         "hmac-algorithm", "plain-http-jwks", "unknown-option", "empty-header",
         "remote-user-list"],
)
def test_configuration_errors_at_install(pomerium: FakePomerium,
                                         make_plugin: t.Callable[[FakePomerium], t.Any]
                                         ) -> None:
    app = bottle.Bottle()
    plugin = make_plugin(pomerium)
    with pytest.raises(ConfigurationError):
        app.install(plugin)
    assert plugin not in app.plugins


@pytest.mark.parametrize("second", ["same-instance", "other-instance"])
def test_second_plugin_refused(pomerium: FakePomerium, second: str) -> None:
    app = bottle.Bottle()
    first = app.install(PomeriumPlugin(pomerium.verifier()))
    again = first if second == "same-instance" else PomeriumPlugin(pomerium.verifier())
    with pytest.raises(ConfigurationError, match="already installed"):
        app.install(again)
    assert [p for p in app.plugins if isinstance(p, PomeriumPlugin)] == [first]


def test_route_config_must_be_a_requirement(pomerium: FakePomerium) -> None:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier()))
    app.route("/", callback=lambda: "never", pomerium="admins")
    with pytest.raises(ConfigurationError, match="must be a Requirement"):
        app.routes[0].prepare()


# -- current_identity ---------------------------------------------------------------------


def test_current_identity_outside_a_request() -> None:
    result: list[Identity | str | None] = ["unset"]

    def probe() -> None:  # a fresh thread has no Bottle request bound
        result[0] = current_identity()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(10)
    assert result == [None]


def test_problem_json_is_valid_json(pomerium: FakePomerium) -> None:
    response: TestResponse = Client(make_app(pomerium)).get(
        "/admin", headers={"Accept": "application/json", **pomerium.headers()})
    document = json.loads(response.get_data(as_text=True))
    assert document["title"] == "Forbidden" and document["reason"] == "forbidden"


# -- the app-wide guard: requirements no plugin enforces, forged claim headers ---------------


def unprotected_child() -> bottle.Bottle:
    """A child app without a plugin whose route names a requirement."""
    child = bottle.Bottle()

    @child.get("/admin", pomerium=require_group("admins"))
    def admin() -> str:
        return "child admin"

    @child.get("/open")
    def open_route() -> str:
        return "child open"

    @child.get("/public", skip=["pomerium"])
    def public_route() -> str:
        return "child public"

    return child


@pytest.mark.parametrize("attach", ["mount", "merge", "wsgi-mount", "wsgi-mount-method"])
def test_requirement_on_child_without_plugin_fails_closed(pomerium: FakePomerium,
                                                          attach: str) -> None:
    parent = bottle.Bottle()
    parent.install(PomeriumPlugin(pomerium.verifier()))
    child = unprotected_child()
    prefix = "" if attach == "merge" else "/sub"
    if attach == "mount":
        parent.mount("/sub/", child)
    elif attach == "merge":
        parent.merge(child)
    elif attach == "wsgi-mount":
        with pytest.warns(DeprecationWarning, match="WSGI mount"):  # options force WSGI
            parent.mount("/sub/", child, skip=True)
    else:
        parent.mount("/sub/", child.wsgi)
    client = Client(parent)
    for headers in ({}, pomerium.headers(groups=["admins"])):
        response = client.get(f"{prefix}/admin", headers=headers)
        assert response.status_code == 401, attach
        assert "child admin" not in response.text
        assert "unenforced" in response.text
    # A route no plugin verifies is refused too (fail closed), unless it skips the plugin.
    response = client.get(f"{prefix}/open", headers=pomerium.headers())
    assert response.status_code == 401 and "unenforced" in response.text
    assert client.get(f"{prefix}/public").text == "child public"


def test_requests_matching_no_route_reuse_one_gate(pomerium: FakePomerium,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The request guard verifies every unmatched request; it built a new gate (and ran
    # the whole configuration step again) for each one.
    import bottle_pomerium.plugin as plugin_module

    built: list[object] = []

    class Counting(plugin_module.PomeriumMiddleware):
        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(plugin_module, "PomeriumMiddleware", Counting)
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier()))
    client = Client(app)
    for _ in range(3):
        assert client.get("/nowhere").status_code == 401
    assert client.get("/nowhere", headers=pomerium.headers()).status_code == 404
    assert len(built) == 1


def test_refusing_an_unverified_route_logs_the_request_line_escaped(
        pomerium: FakePomerium, caplog: pytest.LogCaptureFixture) -> None:
    # The path arrives before any authentication; a decoded %0a in it wrote a forged
    # line into the application's log.
    parent = bottle.Bottle()
    parent.install(PomeriumPlugin(pomerium.verifier()))
    child = bottle.Bottle()

    @child.get("/files/<name>")
    def files(name: str) -> str:
        return name

    parent.merge(child)
    with caplog.at_level("ERROR", logger="bottle_pomerium"):
        response = Client(parent).get("/files/a%0d%0aCRITICAL forged%1b[2J")
    assert response.status_code == 401 and "unenforced" in response.text
    [record] = [r for r in caplog.records if r.name == "bottle_pomerium"]
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message and "\x1b" not in message
    assert "'/files/a\\r\\nCRITICAL forged\\x1b[2J'" in message


def test_requirement_with_skip_added_after_install_fails_closed(pomerium: FakePomerium
                                                                ) -> None:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier()))

    @app.get("/admin", pomerium=require_group("admins"), skip=["pomerium"])
    def admin() -> str:
        return "admin area"

    response = Client(app).get("/admin", headers=pomerium.headers(groups=["admins"]))
    assert response.status_code == 401 and response.text != "admin area"


@pytest.mark.parametrize("skip", [["pomerium"], [PomeriumPlugin], True],
                         ids=["by-name", "by-class", "skip-true"])
def test_requirement_with_skip_refused_at_install(pomerium: FakePomerium,
                                                  skip: t.Any) -> None:
    app = bottle.Bottle()
    app.route("/admin", callback=lambda: "admin area", pomerium=require_group("admins"),
              skip=skip)
    with pytest.raises(ConfigurationError, match="skips it"):
        app.install(PomeriumPlugin(pomerium.verifier()))


def test_bad_requirement_refused_at_install(pomerium: FakePomerium) -> None:
    app = bottle.Bottle()
    app.route("/", callback=lambda: "never", pomerium="admins")
    with pytest.raises(ConfigurationError, match="must be a Requirement"):
        app.install(PomeriumPlugin(pomerium.verifier()))


def test_bad_requirement_added_later_is_refused_not_500(pomerium: FakePomerium) -> None:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(pomerium.verifier()))
    app.route("/", callback=lambda: "never", pomerium="admins")
    response = Client(app).get("/", headers=pomerium.headers(groups=["admins"]))
    assert response.status_code == 401
    assert "never" not in response.text


@pytest.mark.parametrize("hook_order", ["hook-after-install", "hook-before-install"])
def test_forged_claim_headers_never_reach_the_app(pomerium: FakePomerium,
                                                  hook_order: str) -> None:
    seen_by_hook: list[str | None] = []

    def early_hook() -> None:
        seen_by_hook.append(bottle.request.get_header("X-Pomerium-Claim-Email"))
        assert bottle.request.environ["pomerium.identity"] is None

    if hook_order == "hook-before-install":
        app = bottle.Bottle()
        app.add_hook("before_request", early_hook)
        app.install(PomeriumPlugin(pomerium.verifier()))
    else:
        app = make_app(pomerium)
        app.add_hook("before_request", early_hook)

    @app.get("/healthz-claims", skip=["pomerium"])
    def healthz_claims() -> dict[str, t.Any]:
        environ = bottle.request.environ
        return {"claim": bottle.request.get_header("X-Pomerium-Claim-Email"),
                "identity": environ["pomerium.identity"], "error": environ["pomerium.error"]}

    forged = {"X-Pomerium-Claim-Email": "mallory@example.com",
              "X-Pomerium-Claim-Groups": "admins"}
    response = Client(app).get("/healthz-claims", headers=forged)
    assert response.json == {"claim": None, "identity": None, "error": None}
    assert seen_by_hook == [None]


def test_forged_identity_in_environ_is_reset(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)

    @app.get("/peek", skip=["pomerium"])
    def peek() -> str:
        return repr(current_identity())

    forged = pomerium.verifier().verify(pomerium.token("mallory@example.com"))
    response = Client(app).get("/peek", environ_overrides={"pomerium.identity": forged})
    assert response.text == "None"


@pytest.mark.parametrize(
    "target",
    [current_identity, object(), "admins", 1],
    ids=["current_identity-without-call", "object", "string", "int"],
)
def test_route_requirement_refuses_non_functions(target: t.Any) -> None:
    with pytest.raises(TypeError):
        require_group("admins")(target)


# -- hardening: unmatched paths, CORS preflight, refusal pages, Accept -----------------------


@pytest.mark.parametrize(
    ("method", "path", "verified_status"),
    [("GET", "/no-such-page", 404), ("POST", "/admin", 405), ("GET", "/admin/x", 404)],
    ids=["unknown-path", "wrong-method", "below-a-route"],
)
def test_unmatched_requests_are_verified_before_404_or_405(
    pomerium: FakePomerium, method: str, path: str, verified_status: int
) -> None:
    client = Client(make_app(pomerium))
    response = client.open(path, method=method)
    assert response.status_code == 401 and "missing" in response.text
    assert "Allow" not in response.headers  # a 405 would list the route's methods
    assert client.open(path, method=method, headers=pomerium.headers()).status_code \
        == verified_status
    # Optional mode lets anonymous requests reach routing, as for every route.
    optional = Client(make_app(pomerium, optional=True))
    assert optional.open(path, method=method).status_code == verified_status


PREFLIGHT = {"Origin": "https://web.example.com", "Access-Control-Request-Method": "POST"}


def test_cors_preflight_option(pomerium: FakePomerium) -> None:
    def app_with(**options: t.Any) -> Client:
        app = make_app(pomerium, **options)

        @app.route("/api/items", method=["OPTIONS", "POST"])
        def items() -> str:
            identity = current_identity()
            claim = bottle.request.get_header("X-Pomerium-Claim-Email")
            return f"{bottle.request.method} {identity and identity.email} {claim}"

        @app.route("/api/admin", method="ANY", pomerium=require_group("admins"))
        def admin() -> str:
            return "admin data"

        return Client(app)

    client = app_with(cors_preflight=True)
    forged = {"X-Pomerium-Claim-Email": "admin@example.com"}
    assert client.options("/api/items", headers={**PREFLIGHT, **forged}).text \
        == "OPTIONS None None"
    assert client.options("/api/items").status_code == 401  # not a preflight
    # A route requirement is not skipped: no identity meets it. (It was: a preflight got
    # the admins-only answer of a route that takes any method.)
    response = client.options("/api/admin", headers={**PREFLIGHT, **forged})
    assert response.status_code == 401 and "admin data" not in response.text
    assert client.get("/api/admin", headers=pomerium.headers(groups=["admins"])).text \
        == "admin data"
    assert client.post("/api/items", headers=PREFLIGHT).status_code == 401
    assert client.post("/api/items", headers=pomerium.headers()).text \
        == "POST user@example.com None"
    # An unmatched preflight is Bottle's to answer, not a refusal.
    assert client.options("/nothing", headers=PREFLIGHT).status_code in (404, 405)
    # Off by default.
    assert app_with().options("/api/items", headers=PREFLIGHT).status_code == 401


@pytest.mark.parametrize(("accept", "content_type"), list(REFUSAL_BY_ACCEPT.values()),
                         ids=list(REFUSAL_BY_ACCEPT))
def test_refusal_page_by_accept_parsed_once(
    pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch, accept: str, content_type: str
) -> None:
    from pomerium_wsgi import problem

    calls: list[str | None] = []
    real = problem.preferred_format
    monkeypatch.setattr(problem, "preferred_format",
                        lambda value: calls.append(value) or real(value))
    response = Client(make_app(pomerium)).get("/", headers={"Accept": accept})
    assert response.status_code == 401
    assert response.headers["Content-Type"] == content_type
    assert "through Pomerium" in response.text and "missing" in response.text
    assert len(calls) == 1


# -- the environment -------------------------------------------------------------------


def test_options_left_out_come_from_the_environment(pomerium: FakePomerium,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """As under ``pomerium-wsgi dev``: the app names its audience, the environment the
    JWKS URL and optional mode."""
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)
        monkeypatch.setenv("POMERIUM_OPTIONAL", "on")
        app = bottle.Bottle()
        app.install(PomeriumPlugin(audience=pomerium.audience))
        app.get("/")(lambda: {"email": getattr(current_identity(), "email", None)})
        client = Client(app)
        assert client.get("/", headers=pomerium.headers("a@x.com")).json == {"email": "a@x.com"}
        assert client.get("/").json == {"email": None}  # optional, from the environment


@pytest.mark.parametrize("with_verifier", [True, False], ids=["verifier", "options"])
def test_code_wins_over_the_environment(pomerium: FakePomerium, with_verifier: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A ready verifier ignores the environment; options given win over it, and a
    static ``jwks`` excludes the environment's JWKS URL."""
    monkeypatch.setenv("POMERIUM_AUDIENCE", "env.example.com")
    monkeypatch.setenv("POMERIUM_JWKS_URL", "https://keys.example.com/jwks.json")
    monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
    plugin = (PomeriumPlugin(pomerium.verifier()) if with_verifier else
              PomeriumPlugin(audience=pomerium.audience, jwks=pomerium.jwks, optional=False))
    app = bottle.Bottle()
    app.install(plugin)
    app.get("/")(lambda: "home")
    assert plugin.verifier is not None and plugin.verifier.audiences == {pomerium.audience}
    client = Client(app)
    assert client.get("/").status_code == 401
    assert client.get("/", headers=pomerium.headers()).text == "home"
