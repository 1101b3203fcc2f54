"""flask_pomerium against real Flask apps, driven through Flask's test client.

Tokens come from FakePomerium and, independently, from PyJWT, so the adapter is not only
checked against the library's own minting.
"""

from __future__ import annotations

import json
import logging
import pathlib
import time
import typing as t
import uuid

import jwt
import pytest
from flask import Blueprint, Flask, g, jsonify, render_template_string, request
from flask.testing import FlaskClient
from flask.views import MethodView, View
from werkzeug.test import TestResponse

from flask_pomerium import (
    Pomerium,
    PomeriumForbidden,
    PomeriumState,
    PomeriumUnauthorized,
    RequestState,
    ViewRequirement,
    current_identity,
    enforce,
    get_current_identity,
    get_state,
    get_verification_error,
    protect_blueprint,
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
    PomeriumMiddleware,
    Requirement,
    StaticKeys,
)
from pomerium_wsgi import require_group as core_require_group
from pomerium_wsgi.signals import access_denied, identity_verified, verification_failed
from pomerium_wsgi.testing import FakePomerium
from tests.conftest import free_port

from ..helpers import REFUSAL_BY_ACCEPT

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


# -- utilities -------------------------------------------------------------------------


def identity_json() -> dict[str, t.Any]:
    identity = get_current_identity()
    return {"email": identity.email if identity else None}


def make_app(pomerium: FakePomerium, config: t.Mapping[str, t.Any] | None = None,
             *, static_folder: str | None = None) -> Flask:
    """A Flask app verifying *pomerium*'s tokens (static keys), with a home route."""
    app = Flask(__name__, static_folder=static_folder, static_url_path="/static")
    app.config.update(TESTING=True, POMERIUM_AUDIENCE=pomerium.audience,
                      POMERIUM_JWKS=pomerium.jwks)
    app.config.update(config or {})
    Pomerium(app)

    @app.get("/")
    def home() -> t.Any:
        return jsonify(
            **identity_json(),
            remote_user=request.environ.get("REMOTE_USER"),
            claim_header=request.headers.get("X-Pomerium-Claim-Email"),
        )

    return app


def pyjwt_token(pomerium: FakePomerium, **overrides: t.Any) -> str:
    """A Pomerium-shaped token minted by PyJWT, independent of FakePomerium's signer."""
    now = int(time.time())
    claims: dict[str, t.Any] = {
        "iss": pomerium.audience, "aud": pomerium.audience, "jti": str(uuid.uuid4()),
        "iat": now, "exp": now + 300, "sub": "user-1", "user": "user-1",
        "email": "ada@example.com", "groups": ["admins"], "sid": str(uuid.uuid4()),
        "name": "Ada Lovelace",
    }
    claims.update(overrides)
    return jwt.encode(claims, pomerium.signing_key.private_pem(), algorithm="ES256",
                      headers={"kid": pomerium.signing_key.kid})


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"X-Pomerium-Jwt-Assertion": token, **headers}


def problem_of(response: TestResponse) -> dict[str, t.Any]:
    assert response.content_type == "application/problem+json"
    body: dict[str, t.Any] = json.loads(response.get_data(as_text=True))
    return body


class Recorder:
    """A blinker receiver that records its calls (held strongly by the test)."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, dict[str, t.Any]]] = []

    def __call__(self, sender: object, **kwargs: t.Any) -> None:
        self.calls.append((sender, kwargs))


# -- verification per request ----------------------------------------------------------


def test_valid_fakepomerium_token(pomerium: FakePomerium) -> None:
    client = make_app(pomerium).test_client()
    response = client.get("/", headers=pomerium.headers("ada@example.com"))
    assert response.status_code == 200
    assert response.json == {"email": "ada@example.com", "remote_user": "ada@example.com",
                             "claim_header": None}


def test_valid_pyjwt_token(pomerium: FakePomerium) -> None:
    client = make_app(pomerium).test_client()
    response = client.get("/", headers=auth(pyjwt_token(pomerium, email="grace@example.com")))
    assert response.status_code == 200
    assert response.json is not None and response.json["email"] == "grace@example.com"


def test_missing_token_is_401_problem_json(pomerium: FakePomerium) -> None:
    client = make_app(pomerium).test_client()
    response = client.get("/", headers=JSON)
    assert response.status_code == 401
    body = problem_of(response)
    assert body["reason"] == "missing" and body["status"] == 401
    assert response.headers["WWW-Authenticate"] == 'Pomerium realm="pomerium"'
    assert response.headers["Cache-Control"] == "no-store"


def test_refusal_is_html_for_browsers(pomerium: FakePomerium) -> None:
    client = make_app(pomerium).test_client()
    token = pomerium.token(exp=int(time.time()) - 3600)
    response = client.get("/", headers=auth(token, **HTML))
    assert response.status_code == 401
    assert response.content_type == "text/html; charset=utf-8"
    text = response.get_data(as_text=True)
    assert "<code>expired</code>" in text and token not in text
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["WWW-Authenticate"] == 'Pomerium realm="pomerium"'


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(lambda p: pyjwt_token(p, exp=int(time.time()) - 3600), "expired",
                     id="pyjwt-expired"),
        pytest.param(lambda p: pyjwt_token(p, aud="other.example.com"), "audience",
                     id="pyjwt-wrong-audience"),
        pytest.param(lambda p: pyjwt_token(p, iss="evil.example.com"), "issuer",
                     id="pyjwt-wrong-issuer"),
        pytest.param(lambda p: p.token()[:-4] + ("AAAA" if not p.token().endswith("AAAA")
                                                 else "BBBB"), "signature",
                     id="tampered-signature"),
        pytest.param(lambda p: FakePomerium().token(), "unknown_key", id="foreign-key"),
        pytest.param(lambda p: "not-a-jwt", "malformed", id="garbage"),
    ],
)
def test_bad_tokens_are_401_with_reason(
    pomerium: FakePomerium, make_token: t.Callable[[FakePomerium], str], reason: str
) -> None:
    client = make_app(pomerium).test_client()
    token = make_token(pomerium)
    response = client.get("/", headers=auth(token, **JSON))
    assert response.status_code == 401
    assert problem_of(response)["reason"] == reason
    assert token not in response.get_data(as_text=True)


def test_keys_unavailable_is_503(pomerium: FakePomerium) -> None:
    dead = f"http://127.0.0.1:{free_port()}/.well-known/pomerium/jwks.json"
    app = make_app(pomerium, {"POMERIUM_JWKS": None, "POMERIUM_JWKS_URL": dead})
    response = app.test_client().get("/", headers=pomerium.headers() | JSON)
    assert response.status_code == 503
    assert problem_of(response)["reason"] == "keys_unavailable"
    assert response.headers["Retry-After"] == "5"


def test_keys_fetched_over_http(pomerium: FakePomerium) -> None:
    with pomerium.serve() as jwks_url:
        app = make_app(pomerium, {"POMERIUM_JWKS": None, "POMERIUM_JWKS_URL": jwks_url})
        response = app.test_client().get("/", headers=pomerium.headers("ada@example.com"))
    assert response.status_code == 200
    assert pomerium.jwks_requests == 1


def test_unverified_claim_headers_are_removed(pomerium: FakePomerium) -> None:
    client = make_app(pomerium).test_client()
    headers = pomerium.headers("ada@example.com") | {"X-Pomerium-Claim-Email": "boss@x.com"}
    response = client.get("/", headers=headers)
    assert response.json is not None
    assert response.json["claim_header"] is None
    assert response.json["email"] == "ada@example.com"


def test_unknown_route_without_token_is_401_not_404(pomerium: FakePomerium) -> None:
    response = make_app(pomerium).test_client().get("/no-such-page", headers=JSON)
    assert response.status_code == 401


def test_verification_runs_before_the_apps_own_hooks(pomerium: FakePomerium) -> None:
    app = Flask(__name__)
    app.config.update(POMERIUM_AUDIENCE=pomerium.audience, POMERIUM_JWKS=pomerium.jwks)
    seen: list[Identity | None] = []
    app.before_request(lambda: seen.append(get_current_identity()))  # registered first
    Pomerium(app)
    app.get("/")(lambda: "ok")
    client = app.test_client()
    assert client.get("/", headers=pomerium.headers("ada@example.com")).status_code == 200
    assert client.get("/").status_code == 401
    assert len(seen) == 1 and seen[0] is not None and seen[0].email == "ada@example.com"


def test_remote_user_claim_is_configurable(pomerium: FakePomerium) -> None:
    client = make_app(pomerium, {"POMERIUM_REMOTE_USER": "sub"}).test_client()
    response = client.get("/", headers=pomerium.headers(sub="user-42"))
    assert response.json is not None and response.json["remote_user"] == "user-42"


def test_custom_header(pomerium: FakePomerium) -> None:
    client = make_app(pomerium, {"POMERIUM_HEADER": "X-Identity"}).test_client()
    assert client.get("/", headers={"X-Identity": pomerium.token()}).status_code == 200
    assert client.get("/", headers=pomerium.headers()).status_code == 401


def test_request_state_is_namespaced_in_g(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    states: list[object] = []

    @app.get("/state")
    def state() -> str:
        states.append(g.get("_pomerium"))
        return "ok"

    client = app.test_client()
    client.get("/state", headers=pomerium.headers("ada@example.com"))
    assert isinstance(states[0], RequestState)
    assert states[0].identity is not None and states[0].identity.email == "ada@example.com"
    assert states[0].exempt is False and states[0].error is None


def test_identity_does_not_outlive_its_request(pomerium: FakePomerium) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})
    client = app.test_client()
    # One app context around two requests: g is shared, the identity must not be.
    with app.app_context():
        first = client.get("/", headers=pomerium.headers("ada@example.com"))
        assert get_current_identity() is None  # outside any request
        second = client.get("/")
    assert first.json is not None and first.json["email"] == "ada@example.com"
    assert second.json is not None and second.json["email"] is None


# -- optional and exempt modes ---------------------------------------------------------


@pytest.mark.parametrize("setting", [True, "true", "1"], ids=["bool", "str-true", "str-1"])
def test_optional_mode_lets_anonymous_through(pomerium: FakePomerium, setting: object) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": setting})

    @app.get("/why")
    def why() -> t.Any:
        error = get_verification_error()
        return jsonify(anonymous=not current_identity, reason=error.reason if error else None)

    client = app.test_client()
    assert client.get("/").json == {"email": None, "remote_user": None, "claim_header": None}
    expired = pomerium.token(exp=int(time.time()) - 3600)
    assert client.get("/why", headers=auth(expired)).json == {"anonymous": True,
                                                               "reason": "expired"}
    assert client.get("/why", headers=pomerium.headers()).json == {"anonymous": False,
                                                                    "reason": None}


def test_optional_mode_decorator_answers_401_with_the_recorded_reason(
    pomerium: FakePomerium,
) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})
    app.get("/private")(require_identity(lambda: "secret"))
    client = app.test_client()
    expired = pomerium.token(exp=int(time.time()) - 3600)
    response = client.get("/private", headers=auth(expired, **JSON))
    assert response.status_code == 401 and problem_of(response)["reason"] == "expired"
    assert problem_of(client.get("/private", headers=JSON))["reason"] == "missing"
    assert client.get("/private", headers=pomerium.headers()).status_code == 200


@pytest.mark.parametrize("exempt", [["/healthz"], ("/healthz",), "/healthz, /metrics"],
                         ids=["list", "tuple", "comma-string"])
def test_exempt_paths(pomerium: FakePomerium, exempt: object) -> None:
    app = make_app(pomerium, {"POMERIUM_EXEMPT": exempt})

    @app.get("/healthz")
    @app.get("/healthz/deep")
    @app.get("/healthzz")
    def healthz() -> t.Any:
        return jsonify(**identity_json(), claim=request.headers.get("X-Pomerium-Claim-Email"))

    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz/deep").status_code == 200
    assert client.get("/healthzz").status_code == 401
    # Exempt means not verified: a token there gives no identity, claim headers still go.
    response = client.get("/healthz", headers=pomerium.headers("ada@example.com")
                          | {"X-Pomerium-Claim-Email": "boss@example.com"})
    assert response.json == {"email": None, "claim": None}



@pytest.mark.parametrize("path", ["/healthz/../admin", "/healthz/%2e%2e/admin",
                                  "/healthz/./../admin", "//admin", "/HEALTHZ"])
def test_exempt_prefix_opens_nothing_else(pomerium: FakePomerium, path: str) -> None:
    """Exemption is by path prefix; a path that smuggles another route past it must not
    reach that route unverified (werkzeug does not resolve dot segments)."""
    app = make_app(pomerium, {"POMERIUM_EXEMPT": ["/healthz"]})
    app.get("/healthz")(lambda: "ok")
    app.get("/admin", endpoint="admin")(lambda: "ADMIN AREA")
    response = app.test_client().get("/", environ_overrides={"PATH_INFO": path})
    assert response.status_code in (401, 404)
    assert "ADMIN AREA" not in response.text

@pytest.fixture
def static_dir(tmp_path: pathlib.Path) -> str:
    (tmp_path / "style.css").write_text("body { color: teal }\n")
    return str(tmp_path)


def test_static_route_is_verified_by_default(pomerium: FakePomerium, static_dir: str) -> None:
    # Nothing is exempt unless the app says so: static files can be private too.
    client = make_app(pomerium, static_folder=static_dir).test_client()
    with client.get("/static/style.css") as response:
        assert response.status_code == 401
        assert b"teal" not in response.data
    with client.get("/static/style.css", headers=pomerium.headers()) as response:
        assert response.status_code == 200
        assert b"teal" in response.data


@pytest.mark.parametrize("setting", [True, "true"], ids=["bool", "string"])
def test_static_route_can_be_exempted(pomerium: FakePomerium, static_dir: str,
                                      setting: object) -> None:
    app = make_app(pomerium, {"POMERIUM_EXEMPT_STATIC": setting}, static_folder=static_dir)
    client = app.test_client()
    with client.get("/static/style.css") as response:
        assert response.status_code == 200
        assert b"teal" in response.data
    assert client.get("/").status_code == 401  # only the static route is opened


# -- decorators ------------------------------------------------------------------------

DECORATOR_CASES = [
    pytest.param(lambda: require_identity, {}, None, id="require_identity-bare"),
    pytest.param(lambda: require_identity(), {}, None, id="require_identity-called"),
    pytest.param(lambda: require_group("admins", "ops"), {"groups": ["ops"]},
                 {"groups": ["staff"]}, id="require_group"),
    pytest.param(lambda: require_all_groups("a", "b"), {"groups": ["a", "b", "c"]},
                 {"groups": ["a"]}, id="require_all_groups"),
    pytest.param(lambda: require_email("Ada@Example.com"), {"email": "ada@example.com"},
                 {"email": "bob@example.com"}, id="require_email"),
    pytest.param(lambda: require_email_domain("example.com"), {"email": "x@example.com"},
                 {"email": "x@evil-example.com"}, id="require_email_domain"),
    pytest.param(lambda: require_claim("department", "finance"), {"department": "finance"},
                 {"department": "sales"}, id="require_claim-values"),
    pytest.param(lambda: require_claim("level", lambda v: isinstance(v, int) and v >= 3),
                 {"level": 5}, {"level": 1}, id="require_claim-predicate"),
    pytest.param(lambda: requires(core_require_group("ops") & require_email_domain("a.com")),
                 {"groups": ["ops"], "email": "x@a.com"},
                 {"groups": ["ops"], "email": "x@b.com"}, id="requires-combined"),
]


def _token_for(pomerium: FakePomerium, claims: dict[str, t.Any]) -> str:
    claims = dict(claims)
    email = claims.pop("email", "user@example.com")
    groups = claims.pop("groups", [])
    return pomerium.token(email, groups, **claims)


@pytest.mark.parametrize(("decorator", "allowed", "denied"), DECORATOR_CASES)
@pytest.mark.parametrize("optional", [False, True], ids=["required", "optional"])
def test_decorators_allow_and_deny(
    pomerium: FakePomerium,
    decorator: t.Callable[[], t.Callable[[t.Callable[[], str]], t.Callable[[], str]]],
    allowed: dict[str, t.Any],
    denied: dict[str, t.Any] | None,
    optional: bool,
) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": optional})

    @app.get("/guarded")
    @decorator()
    def guarded() -> str:
        return f"hello {current_identity.email}"

    client = app.test_client()
    response = client.get("/guarded", headers=auth(_token_for(pomerium, allowed)))
    assert response.status_code == 200 and response.text.startswith("hello ")

    # No identity: 401 (from the hook, or in optional mode from the decorator).
    response = client.get("/guarded", headers=JSON)
    assert response.status_code == 401 and problem_of(response)["reason"] == "missing"

    if denied is not None:
        token = _token_for(pomerium, denied)
        response = client.get("/guarded", headers=auth(token, **JSON))
        assert response.status_code == 403
        body = problem_of(response)
        assert body["reason"] == "forbidden" and body["detail"].startswith("access requires ")
        assert response.headers["Cache-Control"] == "no-store"
        assert "WWW-Authenticate" not in response.headers
        assert token not in response.text


def test_decorator_is_also_a_requirement(pomerium: FakePomerium) -> None:
    admins = require_group("admins")
    assert isinstance(admins, Requirement) and isinstance(admins, ViewRequirement)
    identity = pomerium.verifier().verify(pomerium.token(groups=["admins"]))
    assert admins(identity) is True and admins(None) is False
    assert str(admins) == "membership of group 'admins'"
    combined = requires(admins | require_email("x@example.com"))
    assert combined.check(identity)
    assert requires(admins).requirement is admins.requirement  # no double wrapping


@pytest.mark.parametrize(
    "misuse",
    [require_group, require_all_groups, require_email, require_email_domain, require_claim],
    ids=lambda f: f.__name__,
)
def test_bare_use_of_a_decorator_that_needs_arguments_is_an_error(
    misuse: t.Callable[..., t.Any],
) -> None:
    def view() -> str:
        return "x"

    with pytest.raises(TypeError, match="takes arguments"):
        misuse(view)


def test_decorator_marks_the_view_with_its_requirement() -> None:
    @require_group("admins")
    def view() -> str:
        return "x"

    assert view.__name__ == "view"
    assert str(view.pomerium_requirement) == "membership of group 'admins'"  # type: ignore[attr-defined]


def test_decorator_without_the_extension_fails_closed() -> None:
    app = Flask(__name__)
    app.testing = True  # let the error reach the test instead of becoming a 500
    app.get("/")(require_identity(lambda: "secret"))
    with pytest.raises(RuntimeError, match="nothing verifies its requests"):
        app.test_client().get("/")


def test_decorators_work_behind_the_core_middleware(pomerium: FakePomerium) -> None:
    """Without the extension, the identity set by PomeriumMiddleware is used."""
    app = Flask(__name__)
    app.get("/admin")(require_group("admins")(lambda: f"hi {current_identity.email}"))
    app.wsgi_app = PomeriumMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, pomerium.verifier(), optional=True)
    client = app.test_client()
    admin = pomerium.headers("a@x.com", ["admins"])
    assert client.get("/admin", headers=admin).text == "hi a@x.com"
    assert client.get("/admin", headers=pomerium.headers()).status_code == 403
    assert client.get("/admin").status_code == 401


def test_enforce_inside_a_view(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)

    @app.get("/inline")
    def inline() -> str:
        if request.args.get("strict"):
            enforce(core_require_group("admins"))
        return "ok"

    client = app.test_client()
    assert client.get("/inline", headers=pomerium.headers()).status_code == 200
    assert client.get("/inline?strict=1", headers=pomerium.headers()).status_code == 403


def test_a_refusal_is_rendered_once(pomerium: FakePomerium,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # werkzeug asks the exception for its headers, then for its body: the core's
    # refusal was rendered twice for every anonymous request.
    import flask_pomerium.errors as errors_module

    calls: list[int] = []
    real = errors_module.render

    def counting(*args: t.Any, **kwargs: t.Any) -> t.Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(errors_module, "render", counting)
    client = make_app(pomerium).test_client()
    for accept in ("application/json", "text/html", "*/*"):
        calls.clear()
        response = client.get("/", headers={"Accept": accept})
        assert response.status_code == 401 and b"missing" in response.data
        assert len(calls) == 1, accept


# -- custom error handlers -------------------------------------------------------------


def test_app_error_handlers_render_401_and_403(pomerium: FakePomerium) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})
    app.get("/admin")(require_group("admins")(lambda: "admin area"))

    @app.errorhandler(401)
    def unauthorized(error: PomeriumUnauthorized) -> tuple[str, int]:
        return f"please sign in ({error.reason})", 401

    @app.errorhandler(403)
    def forbidden(error: PomeriumForbidden) -> tuple[str, int]:
        return f"{error.identity.email} lacks {error.requirement}", 403

    client = app.test_client()
    expired = pomerium.token(exp=int(time.time()) - 3600)
    response = client.get("/admin", headers=auth(expired))
    assert (response.status_code, response.text) == (401, "please sign in (expired)")
    response = client.get("/admin", headers=pomerium.headers("bob@example.com"))
    assert response.status_code == 403
    assert response.text == "bob@example.com lacks membership of group 'admins'"


def test_hook_refusal_goes_through_the_app_error_handler(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    app.errorhandler(401)(lambda error: (jsonify(custom=error.reason), 401))
    response = app.test_client().get("/")
    assert response.status_code == 401 and response.json == {"custom": "missing"}


def test_error_handler_for_the_exception_class(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    app.get("/admin")(require_group("admins")(lambda: "admin area"))
    app.errorhandler(PomeriumForbidden)(lambda error: (f"denied: {error.description}", 403))
    response = app.test_client().get("/admin", headers=pomerium.headers())
    assert response.text == "denied: access requires membership of group 'admins'"


def test_error_handler_may_return_the_default_body(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    app.get("/admin")(require_group("admins")(lambda: "admin area"))
    app.errorhandler(403)(lambda error: error)
    response = app.test_client().get("/admin", headers=pomerium.headers() | JSON)
    assert response.status_code == 403 and problem_of(response)["reason"] == "forbidden"


def test_blueprint_error_handler(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    bp = Blueprint("bp", __name__)
    bp.get("/bp/admin")(require_group("admins")(lambda: "admin area"))
    bp.errorhandler(403)(lambda error: ("blueprint says no", 403))
    app.register_blueprint(bp)
    app.get("/admin")(require_group("admins")(lambda: "admin area"))
    client = app.test_client()
    assert client.get("/bp/admin", headers=pomerium.headers()).text == "blueprint says no"
    assert client.get("/admin", headers=pomerium.headers()).text != "blueprint says no"


# -- factory pattern and two apps ------------------------------------------------------


def test_factory_pattern(pomerium: FakePomerium) -> None:
    extension = Pomerium()

    def create_app() -> Flask:
        app = Flask(__name__)
        app.config.update(POMERIUM_AUDIENCE=pomerium.audience, POMERIUM_JWKS=pomerium.jwks)
        extension.init_app(app)
        app.get("/")(lambda: identity_json())
        return app

    first, second = create_app(), create_app()
    assert not hasattr(extension, "app")
    for app in (first, second):
        state = app.extensions["pomerium"]
        assert isinstance(state, PomeriumState) and state.extension is extension
        assert get_state(app) is state
        response = app.test_client().get("/", headers=pomerium.headers("ada@example.com"))
        assert response.json == {"email": "ada@example.com"}
    assert first.extensions["pomerium"].verifier is not second.extensions["pomerium"].verifier


def test_two_apps_with_their_own_audiences() -> None:
    fake_a, fake_b = FakePomerium("a.example.com"), FakePomerium("b.example.com")
    extension = Pomerium()
    apps = {}
    for fake in (fake_a, fake_b):
        app = Flask(f"app_{fake.audience[0]}")
        app.config.update(POMERIUM_AUDIENCE=fake.audience, POMERIUM_JWKS=fake.jwks)
        extension.init_app(app)
        app.get("/")(lambda: identity_json())
        apps[fake.audience] = app.test_client()
    client_a, client_b = apps["a.example.com"], apps["b.example.com"]
    assert client_a.get("/", headers=fake_a.headers("a@x.com")).json == {"email": "a@x.com"}
    assert client_b.get("/", headers=fake_b.headers("b@x.com")).json == {"email": "b@x.com"}
    # A token for one app is refused by the other (its key and its audience are wrong).
    assert client_b.get("/", headers=fake_a.headers()).status_code == 401
    # Same key, other audience: refused for the audience.
    wrong = fake_b.token(aud="a.example.com")
    response = client_b.get("/", headers=auth(wrong, **JSON))
    assert problem_of(response)["reason"] == "audience"


def test_explicit_verifier(pomerium: FakePomerium) -> None:
    verifier = pomerium.verifier()
    app = Flask(__name__)
    Pomerium(app, verifier=verifier)
    app.get("/")(lambda: identity_json())
    assert get_state(app).verifier is verifier
    assert app.test_client().get("/", headers=pomerium.headers("a@x.com")).json == {
        "email": "a@x.com"}


def test_get_state_without_the_extension() -> None:
    with pytest.raises(RuntimeError, match="not initialised"):
        get_state(Flask(__name__))


# -- configuration errors --------------------------------------------------------------

NO_AUDIENCE = r"POMERIUM_AUDIENCE'\] is not set, nor the POMERIUM_AUDIENCE environment variable"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param({}, NO_AUDIENCE, id="no-audience"),
        pytest.param({"POMERIUM_AUDIENCE": ""}, NO_AUDIENCE,
                     id="empty-audience"),
        pytest.param({"POMERIUM_AUDIENCE": 42}, r"POMERIUM_AUDIENCE'\] must be", id="bad-audience"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_ALGORITHMS": "HS256"},
                     "HS256", id="hmac-algorithm"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com",
                      "POMERIUM_JWKS_URL": "http://keys.example.com/jwks.json"},
                     "plain http", id="http-jwks-url"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_LEEWAY": "soon"},
                     "POMERIUM_LEEWAY", id="bad-leeway"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_LEEWAY": 3600},
                     "leeway", id="huge-leeway"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_CACHE": object()},
                     "POMERIUM_CACHE", id="bad-cache"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_OPTIONAL": "maybe"},
                     "POMERIUM_OPTIONAL", id="bad-optional"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_EXEMPT": "healthz"},
                     "must start with '/'", id="relative-exempt"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_EXEMPT": [1]},
                     "POMERIUM_EXEMPT", id="bad-exempt"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_HEADER": ""},
                     r"POMERIUM_HEADER'\] must be a non-empty string", id="empty-header"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_REMOTE_USER": 5},
                     "POMERIUM_REMOTE_USER", id="bad-remote-user"),
        pytest.param({"POMERIUM_AUDIENCE": "a.example.com", "POMERIUM_JWKS_URL": 5},
                     "POMERIUM_JWKS_URL", id="bad-jwks-url"),
    ],
)
def test_configuration_errors_at_init_app(config: dict[str, t.Any], message: str) -> None:
    app = Flask(__name__)
    app.config.update(config)
    with pytest.raises(ConfigurationError, match=message):
        Pomerium().init_app(app)
    assert "pomerium" not in app.extensions


def test_a_verifier_given_in_code_wins_over_the_config_keys(
        pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A test's FakePomerium verifier serves an app whose production config names an
    audience (and a JWKS URL): the config's verifier keys and the environment are
    ignored, and the log says which keys were not used."""
    monkeypatch.setenv("POMERIUM_AUDIENCE", "env.example.com")
    monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
    app = Flask(__name__)
    app.config["POMERIUM_AUDIENCE"] = "app.example.com"
    app.config["POMERIUM_JWKS_URL"] = "https://keys.internal/jwks.json"
    app.get("/")(lambda: identity_json())
    verifier = pomerium.verifier()
    with caplog.at_level("INFO", logger="pomerium_wsgi.configure"):
        Pomerium(app, verifier=verifier)
    assert get_state(app).verifier is verifier
    assert get_state(app).optional is False  # POMERIUM_OPTIONAL from the environment: ignored
    assert "POMERIUM_AUDIENCE'], app.config['POMERIUM_JWKS_URL'] are not used" in caplog.text
    client = app.test_client()
    assert client.get("/", headers=pomerium.headers("a@x.com")).json == {"email": "a@x.com"}
    assert client.get("/").status_code == 401


@pytest.mark.parametrize("key", ["POMERIUM_HEADER", "POMERIUM_EXEMPT_STATIC"])
def test_a_config_key_set_to_none_takes_its_default(pomerium: FakePomerium, key: str) -> None:
    # None means "left out" for every key; these two raised KeyError in init_app.
    app = make_app(pomerium, {key: None})
    state = app.extensions["pomerium"]
    assert state.header == "X-Pomerium-Jwt-Assertion" and state.exempt_static is False
    client = app.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/", headers=pomerium.headers()).status_code == 200


def test_not_a_verifier_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="Verifier"):
        Pomerium(verifier="app.example.com")  # type: ignore[arg-type]


def test_initialising_twice_is_refused(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    with pytest.raises(ConfigurationError, match="already initialised"):
        Pomerium().init_app(app)


def test_config_from_environment_strings(pomerium: FakePomerium,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings as environment variables give strings; lists are comma-separated."""
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("FLASK_POMERIUM_AUDIENCE", f"other.example.com, {pomerium.audience}")
        monkeypatch.setenv("FLASK_POMERIUM_JWKS_URL", jwks_url)
        monkeypatch.setenv("FLASK_POMERIUM_ALGORITHMS", "ES256")
        monkeypatch.setenv("FLASK_POMERIUM_LEEWAY", "10")
        monkeypatch.setenv("FLASK_POMERIUM_OPTIONAL", "false")
        app = Flask(__name__)
        app.config.from_prefixed_env()
        Pomerium(app)
        app.get("/")(lambda: identity_json())
        verifier = get_state(app).verifier
        assert verifier.audiences == {"other.example.com", pomerium.audience}
        assert verifier.algorithms == {"ES256"} and verifier.leeway == 10
        client = app.test_client()
        assert client.get("/", headers=pomerium.headers("a@x.com")).json == {"email": "a@x.com"}
        assert client.get("/").status_code == 401


# -- blueprint guard -------------------------------------------------------------------


def test_protect_blueprint(pomerium: FakePomerium, static_dir: str) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})
    staff = Blueprint("staff", __name__, url_prefix="/staff", static_folder=static_dir,
                      static_url_path="/static")
    staff.get("/", endpoint="home")(lambda: "staff home")
    staff.get("/tools", endpoint="tools")(lambda: "staff tools")
    inner = Blueprint("inner", __name__, url_prefix="/inner")
    inner.get("/")(lambda: "inner")
    staff.register_blueprint(inner)
    assert protect_blueprint(staff, require_group("staff")) is staff
    app.register_blueprint(staff)
    app.get("/public")(lambda: "public")

    client = app.test_client()
    member = pomerium.headers(groups=["staff"])
    for path in ("/staff/", "/staff/tools", "/staff/inner/"):
        assert client.get(path, headers=member).status_code == 200, path
        assert client.get(path, headers=pomerium.headers()).status_code == 403, path
        assert client.get(path).status_code == 401, path
    assert client.get("/public").status_code == 200  # outside the blueprint
    with client.get("/staff/static/style.css") as response:  # static files are verified
        assert response.status_code == 401


def test_protect_blueprint_leaves_exempt_static_files_open(
    pomerium: FakePomerium, static_dir: str,
) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True, "POMERIUM_EXEMPT_STATIC": True})
    staff = Blueprint("staff", __name__, url_prefix="/staff", static_folder=static_dir,
                      static_url_path="/static")
    staff.get("/", endpoint="home")(lambda: "staff home")
    app.register_blueprint(protect_blueprint(staff, require_group("staff")))
    client = app.test_client()
    with client.get("/staff/static/style.css") as response:
        assert response.status_code == 200
    assert client.get("/staff/", headers=pomerium.headers()).status_code == 403


def test_protect_blueprint_default_requires_an_identity(pomerium: FakePomerium) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})
    bp = protect_blueprint(Blueprint("members", __name__))
    bp.get("/members")(lambda: "members")
    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/members").status_code == 401
    assert client.get("/members", headers=pomerium.headers()).status_code == 200
    assert client.get("/").status_code == 200


def test_protect_blueprint_needs_a_requirement() -> None:
    with pytest.raises(TypeError, match="Requirement"):
        protect_blueprint(Blueprint("x", __name__), "admins")  # type: ignore[arg-type]


# -- async views and MethodView ---------------------------------------------------------


def test_async_views(pomerium: FakePomerium) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})

    @app.get("/async")
    @require_group("admins")
    async def guarded() -> str:
        return f"async hello {current_identity.email}"

    @app.get("/async-open")
    async def open_view() -> t.Any:
        return identity_json()

    client = app.test_client()
    admin = pomerium.headers("ada@example.com", ["admins"])
    assert client.get("/async", headers=admin).text == "async hello ada@example.com"
    assert client.get("/async", headers=pomerium.headers()).status_code == 403
    assert client.get("/async").status_code == 401
    assert client.get("/async-open", headers=admin).json == {"email": "ada@example.com"}


class Reports(MethodView):
    decorators = [require_group("auditors")]

    def get(self) -> str:
        return "reports"

    def post(self) -> str:
        return "created"


class Items(MethodView):
    def get(self) -> str:
        return "items"

    @require_group("editors")
    def post(self) -> str:
        return f"created by {current_identity.email}"

    @require_group("editors")
    async def delete(self) -> str:
        return "deleted"


@require_group("admins")
class Settings(MethodView):
    def get(self) -> str:
        return "settings"


def test_method_views(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    app.add_url_rule("/reports", view_func=Reports.as_view("reports"))
    app.add_url_rule("/items", view_func=Items.as_view("items"))
    app.add_url_rule("/settings", view_func=Settings.as_view("settings"))
    client = app.test_client()
    nobody = pomerium.headers()

    auditor = pomerium.headers(groups=["auditors"])
    assert client.get("/reports", headers=auditor).text == "reports"
    assert client.post("/reports", headers=auditor).text == "created"
    assert client.get("/reports", headers=nobody).status_code == 403
    assert client.post("/reports", headers=nobody).status_code == 403

    editor = pomerium.headers("ed@example.com", ["editors"])
    assert client.get("/items", headers=nobody).text == "items"  # only writes are guarded
    assert client.post("/items", headers=editor).text == "created by ed@example.com"
    assert client.post("/items", headers=nobody).status_code == 403
    assert client.delete("/items", headers=editor).text == "deleted"
    assert client.delete("/items", headers=nobody).status_code == 403

    assert client.get("/settings", headers=pomerium.headers(groups=["admins"])).text == "settings"
    assert client.get("/settings", headers=nobody).status_code == 403


def test_class_decorator_leaves_base_class_alone(pomerium: FakePomerium) -> None:
    class Base(MethodView):
        def get(self) -> str:
            return "x"

    @require_group("admins")
    class Child(Base):
        pass

    app = make_app(pomerium)
    app.add_url_rule("/base", view_func=Base.as_view("base"))
    app.add_url_rule("/child", view_func=Child.as_view("child"))
    client = app.test_client()
    assert client.get("/base", headers=pomerium.headers()).text == "x"
    assert client.get("/child", headers=pomerium.headers()).status_code == 403
    assert Base.decorators == []


def guarded_base_view() -> type[MethodView]:
    @require_group("admins")
    class Base(MethodView):
        def get(self) -> str:
            return f"secret for {current_identity.email}"

    return Base


def subclass_with_empty_decorators(base: type[MethodView]) -> type[MethodView]:
    class Child(base):  # type: ignore[valid-type,misc]
        decorators: t.ClassVar[list[t.Callable[..., t.Any]]] = []

    return Child


def subclass_with_its_own_decorator(base: type[MethodView]) -> type[MethodView]:
    def tag(view: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        return view

    class Child(base):  # type: ignore[valid-type,misc]
        decorators: t.ClassVar[list[t.Callable[..., t.Any]]] = [tag]

    return Child


def subclass_overriding_dispatch_request(base: type[MethodView]) -> type[MethodView]:
    class Child(base):  # type: ignore[valid-type,misc]
        def dispatch_request(self, **kwargs: t.Any) -> t.Any:
            return super().dispatch_request(**kwargs)

    return Child


def grandchild_overriding_dispatch_request(base: type[MethodView]) -> type[MethodView]:
    class Child(base):  # type: ignore[valid-type,misc]
        decorators: t.ClassVar[list[t.Callable[..., t.Any]]] = []

    class Grandchild(Child):
        def dispatch_request(self, **kwargs: t.Any) -> t.Any:
            return "grandchild " + super().dispatch_request(**kwargs)

    return Grandchild


@pytest.mark.parametrize(
    "make_subclass",
    [subclass_with_empty_decorators, subclass_with_its_own_decorator,
     subclass_overriding_dispatch_request, grandchild_overriding_dispatch_request],
    ids=["empty-decorators", "own-decorators", "own-dispatch_request", "grandchild"],
)
def test_class_guard_survives_subclassing(
    pomerium: FakePomerium, make_subclass: t.Callable[[type[MethodView]], type[MethodView]],
) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})
    child = make_subclass(guarded_base_view())
    app.add_url_rule("/child", view_func=child.as_view("child"))
    client = app.test_client()
    assert client.get("/child", headers=pomerium.headers()).status_code == 403
    assert client.get("/child").status_code == 401
    with client.get("/child", headers=pomerium.headers("ada@example.com", ["admins"])) as ok:
        assert ok.status_code == 200
        assert ok.get_data(as_text=True).endswith("secret for ada@example.com")


def test_class_guard_on_a_plain_view_subclass(pomerium: FakePomerium) -> None:
    # A View (not MethodView) subclass always writes its own dispatch_request.
    @require_group("admins")
    class Base(View):
        def dispatch_request(self) -> str:
            return "base"

    class Child(Base):
        def dispatch_request(self) -> str:
            return "child"

    app = make_app(pomerium)
    app.add_url_rule("/child", view_func=Child.as_view("child"))
    client = app.test_client()
    assert client.get("/child", headers=pomerium.headers()).status_code == 403
    assert client.get("/child", headers=pomerium.headers(groups=["admins"])).text == "child"


def test_class_guard_keeps_the_classes_own_init_subclass(pomerium: FakePomerium) -> None:
    seen: list[str] = []

    @require_group("admins")
    class Base(MethodView):
        def __init_subclass__(cls, **kwargs: t.Any) -> None:
            super().__init_subclass__(**kwargs)
            seen.append(cls.__name__)

        def get(self) -> str:
            return "x"

    class Child(Base):
        def post(self) -> str:
            return "posted"

    assert seen == ["Child"]
    assert Child.methods == {"GET", "POST"}  # MethodView's own hook still ran
    app = make_app(pomerium)
    app.add_url_rule("/child", view_func=Child.as_view("child"))
    client = app.test_client()
    assert client.post("/child", headers=pomerium.headers()).status_code == 403
    assert client.post("/child", headers=pomerium.headers(groups=["admins"])).text == "posted"


def test_decorating_a_non_view_class_is_an_error() -> None:
    with pytest.raises(TypeError, match="View class"):
        require_group("admins")(dict)


class CallableObject:
    def __call__(self) -> str:
        return "x"


@pytest.mark.parametrize(
    "target",
    [42, "admins", CallableObject(), {"email": "ada@example.com"}],
    ids=["int", "str", "callable-object", "dict"],
)
def test_decorating_anything_else_is_an_error(target: object) -> None:
    with pytest.raises(TypeError, match="decorates a view function"):
        require_group("admins")(target)  # type: ignore[call-overload]


def test_requirement_checks_current_identity_proxy(pomerium: FakePomerium) -> None:
    # The proxy is callable; it must be checked as the identity it stands for, never
    # mistaken for a view to decorate (a wrapper function would be truthy).
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})
    admins = require_group("admins")

    @app.get("/maybe-admin")
    def maybe_admin() -> t.Any:
        result = admins(current_identity)
        either = requires(admins | require_email("ed@example.com"))(current_identity)
        return jsonify(result=result, either=either, bare=require_identity()(current_identity))

    client = app.test_client()
    assert client.get("/maybe-admin").json == {"result": False, "either": False, "bare": False}
    assert client.get("/maybe-admin", headers=pomerium.headers(groups=["admins"])).json == {
        "result": True, "either": True, "bare": True}
    assert client.get("/maybe-admin", headers=pomerium.headers("ed@example.com")).json == {
        "result": False, "either": True, "bare": True}
    with app.test_request_context("/"):
        assert admins(current_identity) is False  # no verification ran: anonymous
    assert admins(current_identity) is False  # outside a request


# -- templates -------------------------------------------------------------------------


def test_current_identity_in_templates(pomerium: FakePomerium) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})
    source = ("{% if current_identity is none %}anonymous"
              "{% else %}{{ current_identity.email }} in {{ current_identity.groups|join(',') }}"
              "{% endif %}")

    @app.get("/page")
    def page() -> str:
        return render_template_string(source)

    @app.get("/raw")
    def raw() -> str:
        # Rendered straight from the environment: the global proxy still works.
        return app.jinja_env.from_string("{{ current_identity.email }}").render()

    client = app.test_client()
    headers = pomerium.headers("ada@example.com", ["admins", "staff"])
    assert client.get("/page", headers=headers).text == "ada@example.com in admins,staff"
    assert client.get("/page").text == "anonymous"
    assert client.get("/raw", headers=headers).text == "ada@example.com"


def test_current_identity_proxy(pomerium: FakePomerium) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})
    seen: list[tuple[bool, object]] = []

    @app.get("/proxy")
    def proxy() -> str:
        seen.append((bool(current_identity), get_current_identity()))
        return "ok"

    client = app.test_client()
    client.get("/proxy")
    client.get("/proxy", headers=pomerium.headers("ada@example.com"))
    assert seen[0] == (False, None)
    assert seen[1][0] is True and isinstance(seen[1][1], Identity)
    assert not current_identity  # outside a request


# -- signals ---------------------------------------------------------------------------


def test_signals_are_sent_with_the_flask_app_as_sender(pomerium: FakePomerium) -> None:
    app = make_app(pomerium)
    app.get("/admin")(require_group("admins")(lambda: "admin area"))
    other = make_app(pomerium)
    verified, failed, denied, anywhere = Recorder(), Recorder(), Recorder(), Recorder()
    identity_verified.connect(verified, sender=app)
    verification_failed.connect(failed, sender=app)
    access_denied.connect(denied, sender=app)
    identity_verified.connect(anywhere)
    try:
        client = app.test_client()
        client.get("/", headers=pomerium.headers("ada@example.com"))
        client.get("/", headers=auth(pomerium.token(exp=int(time.time()) - 3600)))
        client.get("/admin", headers=pomerium.headers("bob@example.com"))
        other.test_client().get("/", headers=pomerium.headers("eve@example.com"))
    finally:
        identity_verified.disconnect(verified)
        verification_failed.disconnect(failed)
        access_denied.disconnect(denied)
        identity_verified.disconnect(anywhere)

    assert [s for s, _ in verified.calls] == [app, app]  # the other app's request is not here
    assert [kw["identity"].email for _, kw in verified.calls] == ["ada@example.com",
                                                                  "bob@example.com"]
    assert "environ" in verified.calls[0][1]
    assert len(failed.calls) == 1 and failed.calls[0][0] is app
    assert failed.calls[0][1]["error"].reason == "expired"
    assert len(denied.calls) == 1 and denied.calls[0][0] is app
    assert denied.calls[0][1]["identity"].email == "bob@example.com"
    assert str(denied.calls[0][1]["requirement"]) == "membership of group 'admins'"
    assert {s for s, _ in anywhere.calls} == {app, other}


def test_a_raising_receiver_does_not_change_the_answer(
    pomerium: FakePomerium, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(pomerium)
    app.get("/admin")(require_group("admins")(lambda: "admin area"))

    def broken(sender: object, **kwargs: t.Any) -> None:
        raise ValueError("receiver bug")

    access_denied.connect(broken, sender=app)
    identity_verified.connect(broken, sender=app)
    try:
        client = app.test_client()
        assert client.get("/", headers=pomerium.headers()).status_code == 200
        assert client.get("/admin", headers=pomerium.headers()).status_code == 403
    finally:
        access_denied.disconnect(broken)
        identity_verified.disconnect(broken)
    assert "receiver bug" in caplog.text


def test_audit_log_recipe(pomerium: FakePomerium, caplog: pytest.LogCaptureFixture) -> None:
    """The documented recipe: one structured line per request, from the example app."""
    from examples.flask.app import create_app

    app = create_app({"POMERIUM_JWKS_URL": None, "POMERIUM_JWKS": pomerium.jwks,
                      "POMERIUM_AUDIENCE": pomerium.audience, "TESTING": True})
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="audit"):
        client.get("/", headers=pomerium.headers("ada@example.com"))
        client.get("/admin", headers=pomerium.headers("bob@example.com"))
        client.get("/api/me", headers=auth(pomerium.token(exp=int(time.time()) - 3600)))
        client.get("/healthz")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "audit"]
    assert lines == [
        {"who": "ada@example.com", "endpoint": "home", "method": "GET", "status": 200,
         "outcome": "allowed", "why": None},
        {"who": "bob@example.com", "endpoint": "admin", "method": "GET", "status": 403,
         "outcome": "denied", "why": "requires membership of group 'admins'"},
        {"who": None, "endpoint": "api.me", "method": "GET", "status": 401,
         "outcome": "denied", "why": "expired"},
        {"who": None, "endpoint": "healthz", "method": "GET", "status": 200,
         "outcome": "allowed", "why": None},
    ]


# -- the example app -------------------------------------------------------------------


@pytest.fixture
def example_client(pomerium: FakePomerium) -> FlaskClient:
    from examples.flask.app import create_app

    app = create_app({"POMERIUM_JWKS_URL": None, "POMERIUM_JWKS": pomerium.jwks,
                      "POMERIUM_AUDIENCE": pomerium.audience, "TESTING": True})
    return app.test_client()


def test_example_pages(example_client: FlaskClient, pomerium: FakePomerium) -> None:
    ada = pomerium.headers("ada@example.com", ["admins"])
    bob = pomerium.headers("bob@example.com", ["staff"])
    home = example_client.get("/", headers=ada)
    assert home.status_code == 200 and "Hello, Ada" in home.text and "admins" in home.text
    assert example_client.get("/admin", headers=ada).status_code == 200
    forbidden = example_client.get("/admin", headers=bob | HTML)
    assert forbidden.status_code == 403 and "Ask an administrator" in forbidden.text
    assert forbidden.headers["Cache-Control"] == "no-store"
    assert example_client.get("/").status_code == 401
    assert example_client.get("/healthz").text == "ok\n"


def test_example_api(example_client: FlaskClient, pomerium: FakePomerium) -> None:
    me = example_client.get("/api/me", headers=pomerium.headers("ada@example.com", ["x"]))
    assert me.status_code == 200 and me.json is not None and me.json["groups"] == ["x"]
    outsider = pomerium.headers("eve@elsewhere.org")
    response = example_client.get("/api/me", headers=outsider | JSON)
    assert response.status_code == 403 and problem_of(response)["reason"] == "forbidden"
    finance = pomerium.headers("fin@example.com", department="finance")
    assert example_client.get("/api/reports", headers=finance).status_code == 200
    staff = pomerium.headers("bob@example.com", ["staff"])
    assert example_client.get("/api/reports", headers=staff | JSON).status_code == 403



# -- hardening: code that runs before the hooks, OPTIONS, CORS preflight, Accept -----------


FORGED = {"X-Pomerium-Claim-Email": "admin@example.com"}


@pytest.mark.parametrize("optional", [False, True], ids=["required", "optional"])
def test_code_before_the_hooks_never_sees_forged_claims(pomerium: FakePomerium,
                                                         optional: bool) -> None:
    """request_started receivers and url_value_preprocessors run before before_request:
    they see no forged claim header, and the verified identity when there is one."""
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": optional})
    seen: list[tuple[str, str | None, str | None]] = []

    @app.url_value_preprocessor
    def preprocess(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        identity = get_current_identity()
        seen.append(("url_value_preprocessor", request.headers.get("X-Pomerium-Claim-Email"),
                     identity.email if identity else None))

    def started(sender: Flask, **extra: t.Any) -> None:
        identity = get_current_identity()
        seen.append(("request_started", request.headers.get("X-Pomerium-Claim-Email"),
                     identity.email if identity else None))

    from flask import request_started

    request_started.connect(started, app)
    try:
        client = app.test_client()
        response = client.get("/", headers=FORGED)
        assert response.status_code == (200 if optional else 401)
        assert seen == [("request_started", None, None), ("url_value_preprocessor", None, None)]
        seen.clear()
        response = client.get("/", headers={**FORGED, **pomerium.headers("ada@example.com")})
        assert response.status_code == 200
        assert seen == [("request_started", None, "ada@example.com"),
                        ("url_value_preprocessor", None, "ada@example.com")]
    finally:
        request_started.disconnect(started, app)


class GuardedItems(MethodView):
    @require_group("admins")
    def get(self) -> t.Any:
        return "items"

    @require_group("editors")
    def post(self) -> t.Any:
        return "created"


class HalfOpenItems(MethodView):
    def get(self) -> t.Any:
        return "items"

    @require_group("editors")
    def post(self) -> t.Any:
        return "created"


@pytest.mark.parametrize(
    ("path", "groups", "status"),
    [("/guarded", None, 401), ("/guarded", ["staff"], 403), ("/guarded", ["admins"], 200),
     ("/view-class", None, 401), ("/view-class", ["staff"], 403),
     ("/method-view", None, 401), ("/method-view", ["staff"], 403),
     ("/method-view", ["editors"], 200), ("/half-open", None, 200), ("/open", None, 200)],
    ids=["anonymous", "wrong-group", "right-group", "view-class-anonymous",
         "view-class-wrong-group", "method-view-anonymous", "method-view-wrong-group",
         "method-view-some-method", "method-view-with-an-open-method", "unguarded"],
)
def test_automatic_options_do_not_reveal_guarded_views(
    pomerium: FakePomerium, path: str, groups: list[str] | None, status: int
) -> None:
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": True})

    @app.route("/guarded", methods=["GET", "DELETE"])
    @require_group("admins")
    def guarded() -> t.Any:
        return "secret"

    @app.get("/open")
    def open_view() -> t.Any:
        return "open"

    @require_group("admins")
    class Report(View):
        def dispatch_request(self) -> t.Any:
            return "report"

    app.add_url_rule("/view-class", view_func=Report.as_view("report"))
    app.add_url_rule("/method-view", view_func=GuardedItems.as_view("items"))
    app.add_url_rule("/half-open", view_func=HalfOpenItems.as_view("half"))
    headers = {} if groups is None else pomerium.headers(groups=groups)
    response = app.test_client().options(path, headers=headers)
    assert response.status_code == status
    assert ("Allow" in response.headers) is (status == 200)


PREFLIGHT = {"Origin": "https://web.example.com", "Access-Control-Request-Method": "POST"}


@pytest.mark.parametrize("setting", [True, "true"], ids=["bool", "string"])
def test_cors_preflight_setting(pomerium: FakePomerium, setting: object) -> None:
    app = make_app(pomerium, {"POMERIUM_CORS_PREFLIGHT": setting})
    seen: list[object] = []

    @app.after_request
    def cors(response: t.Any) -> t.Any:
        seen.append((request.method, get_current_identity(),
                     request.headers.get("X-Pomerium-Claim-Email")))
        response.headers["Access-Control-Allow-Origin"] = "https://web.example.com"
        return response

    @app.post("/api/items")
    @require_group("admins")
    def create() -> t.Any:
        return "created"

    client = app.test_client()
    response = client.options("/api/items", headers={**PREFLIGHT, **FORGED})
    assert response.status_code == 200 and "POST" in response.headers["Allow"]
    assert response.headers["Access-Control-Allow-Origin"] == "https://web.example.com"
    assert seen == [("OPTIONS", None, None)]
    # Not a preflight: verified as usual.
    assert client.options("/api/items").status_code == 401
    assert client.post("/api/items", headers=PREFLIGHT).status_code == 401
    # Off by default.
    assert make_app(pomerium).test_client().options("/", headers=PREFLIGHT).status_code == 401


ACCEPT_CASES = {**REFUSAL_BY_ACCEPT, "none": (None, "text/plain; charset=utf-8")}


@pytest.mark.parametrize(("accept", "content_type"), list(ACCEPT_CASES.values()),
                         ids=list(ACCEPT_CASES))
def test_refusal_reads_accept_once_and_boundedly(
    pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch, accept: str | None,
    content_type: str
) -> None:
    from pomerium_wsgi import problem

    calls: list[str | None] = []
    parsed: list[str] = []
    real_format, real_quality = problem.preferred_format, problem._quality
    monkeypatch.setattr(problem, "preferred_format",
                        lambda value: calls.append(value) or real_format(value))
    monkeypatch.setattr(problem, "_quality", lambda params: parsed.append(params)
                        or real_quality(params))
    response = make_app(pomerium).test_client().get(
        "/", headers={} if accept is None else {"Accept": accept})
    assert response.status_code == 401 and response.content_type == content_type
    assert len(calls) == 1  # once per request, however often werkzeug asks
    if accept is not None and len(accept) > problem.MAX_ACCEPT_LENGTH:
        assert parsed == []
    body = response.get_data(as_text=True)
    assert "through Pomerium" in body and "missing" in body


# -- the environment -------------------------------------------------------------------


def test_settings_left_out_come_from_the_environment(pomerium: FakePomerium,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """As under ``pomerium-wsgi dev``: the app names its audience, the environment the
    JWKS URL (and here an exempt path)."""
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_AUDIENCE", "ignored.example.com")
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)
        monkeypatch.setenv("POMERIUM_EXEMPT", "/healthz")
        app = Flask(__name__)
        app.config["POMERIUM_AUDIENCE"] = pomerium.audience
        Pomerium(app)
        app.get("/")(lambda: identity_json())
        app.get("/healthz", endpoint="healthz")(lambda: "ok")
        client = app.test_client()
        assert get_state(app).verifier.audiences == {pomerium.audience}
        assert client.get("/", headers=pomerium.headers("a@x.com")).json == {"email": "a@x.com"}
        assert client.get("/").status_code == 401
        assert client.get("/healthz").text == "ok"


def test_config_wins_and_its_key_source_excludes_the_environments(
        pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POMERIUM_JWKS_URL", "https://keys.example.com/jwks.json")
    monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
    monkeypatch.setenv("POMERIUM_LEEWAY", "7")
    app = make_app(pomerium, {"POMERIUM_OPTIONAL": False})  # static POMERIUM_JWKS
    state = get_state(app)
    assert isinstance(state.verifier.keys, StaticKeys)
    assert state.optional is False and state.verifier.leeway == 7
    assert app.test_client().get("/").status_code == 401


def test_a_module_level_extension_takes_a_verifier_before_the_factory_runs(
        pomerium: FakePomerium) -> None:
    """docs/testing.md: ``pomerium.verifier = ...`` on the extension, then the factory."""
    extension = Pomerium()

    def create_app() -> Flask:
        app = Flask(__name__)
        app.config["POMERIUM_AUDIENCE"] = "app.example.com"
        app.config["POMERIUM_JWKS_URL"] = "https://pomerium.internal/jwks.json"
        extension.init_app(app)
        app.get("/")(lambda: identity_json())
        return app

    extension.verifier = pomerium.verifier()
    client = create_app().test_client()
    assert client.get("/", headers=pomerium.headers("a@x.com")).json == {"email": "a@x.com"}
