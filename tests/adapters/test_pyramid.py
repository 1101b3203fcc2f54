"""pyramid_pomerium against real Configurator apps, driven through WebTest.

Settings are given as strings, as an .ini file would give them; the keys are the fake's
JWKS as JSON text (``pomerium.jwks``) unless a test needs a JWKS URL.
"""

from __future__ import annotations

import json
import pathlib
import sys
import typing as t

import pytest
from pyramid.authorization import DENY_ALL, Allow, Authenticated, Everyone
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError as PyramidConfigurationError
from pyramid.httpexceptions import HTTPForbidden
from pyramid.interfaces import ISecurityPolicy
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED, forget, remember
from pyramid.view import view_config
from webtest import TestApp

import pomerium_wsgi
from pomerium_wsgi import (
    Identity,
    Requirement,
    StaticKeys,
    Verifier,
    get_error,
    get_identity,
    problem,
    require_email_domain,
)
from pomerium_wsgi.signals import access_denied, identity_verified, verification_failed
from pomerium_wsgi.testing import FakePomerium
from pyramid_pomerium import (
    ConfigurationError,
    PomeriumSecurityPolicy,
    forbidden_view,
    principals_for,
    view_requirement,
)
from tests.conftest import free_port

from ..helpers import REFUSAL_BY_ACCEPT

JSON = {"Accept": "application/json"}
SUB = "u-123"


class Root:
    """ACL root covering each kind of principal the policy produces."""

    __acl__: t.ClassVar[list[t.Any]] = [
        (Allow, Authenticated, "view"),
        (Allow, "group:admins", "admin"),
        (Allow, "email:ada@example.com", "edit"),
        (Allow, "email:kate@example.com", "edit"),
        (Allow, f"user:{SUB}", "own"),
        (Allow, Everyone, "browse"),
        DENY_ALL,
    ]

    def __init__(self, request: t.Any) -> None:
        self.request = request


def whoami(request: t.Any) -> Response:
    """Everything a view can learn about the caller, as JSON."""
    identity = request.identity
    policy = request.registry.queryUtility(ISecurityPolicy)
    error = get_error(request.environ)
    core_identity = get_identity(request.environ)
    return Response(json_body={
        "email": identity.email if identity else None,
        "userid": request.authenticated_userid,
        "principals": policy.effective_principals(request),
        "core_email": core_identity.email if core_identity else None,
        "error": error.reason if error else None,
        "claim_header": request.headers.get("X-Pomerium-Claim-Email"),
        "can_admin": bool(request.has_permission("admin")),
    })


def text(body: str) -> t.Callable[[t.Any], Response]:
    def view(request: t.Any) -> Response:
        return Response(body, content_type="text/plain")
    return view


def settings_for(pomerium: FakePomerium, **extra: str) -> dict[str, t.Any]:
    """String settings, as read from an .ini file."""
    settings: dict[str, t.Any] = {
        "pomerium.audience": pomerium.audience,
        "pomerium.jwks": json.dumps(pomerium.jwks),
    }
    settings.update({f"pomerium.{k}": v for k, v in extra.items()})
    return settings


def add_views(config: Configurator) -> None:
    routes: dict[str, tuple[t.Any, t.Any, dict[str, t.Any]]] = {
        "/whoami": (whoami, NO_PERMISSION_REQUIRED, {}),
        "/view": (text("viewed"), "view", {}),
        "/admin": (text("admin area"), "admin", {}),
        "/edit": (text("edited"), "edit", {}),
        "/own": (text("owned"), "own", {}),
        "/browse": (text("browsed"), "browse", {}),
        "/finance": (text("finance"), None, {"pomerium_groups": ("finance",)}),
        "/ops": (text("ops"), None, {"pomerium_groups": "ops",
                                     "pomerium_requirement": require_email_domain("example.com")}),
        "/healthz": (text("ok"), NO_PERMISSION_REQUIRED, {}),
    }
    for path, (view, permission, options) in routes.items():
        name = path.strip("/")
        config.add_route(name, path)
        config.add_view(view, route_name=name, permission=permission, **options)

    def counted(request: t.Any) -> Response:
        # Ask several times: the token must still be verified only once.
        for _ in range(3):
            assert request.identity is not None
        request.has_permission("view")
        request.has_permission("admin")
        return Response(str(request.authenticated_userid), content_type="text/plain")

    config.add_route("counted", "/counted")
    config.add_view(counted, route_name="counted", permission="view")

    def sessions(request: t.Any) -> Response:
        return Response(json_body={"remember": remember(request, "someone"),
                                   "forget": forget(request)})

    config.add_route("sessions", "/sessions")
    config.add_view(sessions, route_name="sessions", permission="view")

    def refuses(request: t.Any) -> Response:
        raise HTTPForbidden("the app's own rule")

    config.add_route("refuses", "/refuses")
    config.add_view(refuses, route_name="refuses", permission=NO_PERMISSION_REQUIRED)


def make_config(settings: dict[str, t.Any]) -> Configurator:
    config = Configurator(settings=settings, root_factory=Root)
    config.include("pyramid_pomerium")
    add_views(config)
    return config


def make_app(pomerium: FakePomerium, **extra: str) -> TestApp:
    """A real Pyramid app configured through ``config.include`` from string settings."""
    settings = settings_for(pomerium, **extra)
    settings.setdefault("pomerium.exempt", "/healthz")
    return TestApp(make_config(settings).make_wsgi_app())


@pytest.fixture
def app(pomerium: FakePomerium) -> TestApp:
    return make_app(pomerium)


@pytest.fixture
def optional_app(pomerium: FakePomerium) -> TestApp:
    return make_app(pomerium, optional="true")


@pytest.fixture
def registry_of() -> t.Callable[[TestApp], t.Any]:
    return lambda test_app: test_app.app.registry


# -- principals ----------------------------------------------------------------------------


def test_principals_for_anonymous_is_everyone_only() -> None:
    assert principals_for(None) == [Everyone]


def test_principals_for_identity(pomerium: FakePomerium) -> None:
    identity = pomerium.verifier().verify(
        pomerium.token("Ada@Example.COM", ["admins", "Finance"], sub=SUB))
    assert principals_for(identity) == [
        Everyone, Authenticated, f"user:{SUB}", "email:ada@example.com",
        "group:admins", "group:Finance",
    ]


def test_principals_without_email(pomerium: FakePomerium) -> None:
    identity = pomerium.verifier().verify(pomerium.token("", [], sub=SUB))
    assert principals_for(identity) == [Everyone, Authenticated, f"user:{SUB}"]


# -- ACL allow / deny ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "email", "groups", "sub", "status"),
    [
        ("/view", "bob@example.com", [], "u-9", 200),
        ("/admin", "bob@example.com", ["admins"], "u-9", 200),
        ("/admin", "bob@example.com", ["staff"], "u-9", 403),
        ("/admin", "bob@example.com", ["Admins"], "u-9", 403),
        ("/admin", "bob@example.com", ["admins-old"], "u-9", 403),
        ("/edit", "ada@example.com", [], "u-9", 200),
        ("/edit", "ADA@Example.com", [], "u-9", 200),
        ("/edit", "ada@example.org", [], "u-9", 403),
        ("/edit", "eve.ada@example.com", [], "u-9", 403),
        ("/edit", "KATE@example.com", [], "u-9", 200),
        ("/edit", "\u212aate@example.com", [], "u-9", 403),
        ("/own", "bob@example.com", [], SUB, 200),
        ("/own", "bob@example.com", [], "u-1234", 403),
        ("/browse", "bob@example.com", [], "u-9", 200),
    ],
    ids=[
        "authenticated-view", "group-allowed", "group-missing", "group-is-case-sensitive",
        "group-prefix-is-not-membership", "email-allowed", "email-any-case",
        "email-other-domain", "email-suffix-is-not-match",
        "email-ascii-case-folds", "email-kelvin-sign-is-not-k", "user-allowed",
        "user-prefix-is-not-match", "everyone",
    ],
)
def test_acl_allow_and_deny(app: TestApp, pomerium: FakePomerium, path: str, email: str,
                            groups: list[str], sub: str, status: int) -> None:
    response = app.get(path, headers=pomerium.headers(email, groups, sub=sub), status=status)
    if status == 403:
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert "(reason: forbidden)" in response.text


def test_identity_and_principals_reach_the_view(app: TestApp, pomerium: FakePomerium) -> None:
    headers = pomerium.headers("Ada@Example.com", ["admins"], sub=SUB)
    body = app.get("/whoami", headers=headers).json
    assert body["email"] == "Ada@Example.com"
    assert body["userid"] == SUB
    assert body["principals"] == [Everyone, Authenticated, f"user:{SUB}",
                                  "email:ada@example.com", "group:admins"]
    assert body["core_email"] == "Ada@Example.com"  # core get_identity sees it too
    assert body["can_admin"] is True
    assert body["error"] is None


def test_remember_and_forget_return_no_headers(app: TestApp, pomerium: FakePomerium) -> None:
    assert app.get("/sessions", headers=pomerium.headers()).json == {
        "remember": [], "forget": []}


# -- 401 versus 403 -----------------------------------------------------------------------


def test_no_token_is_401_problem_json(app: TestApp) -> None:
    response = app.get("/admin", headers=JSON, status=401)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["WWW-Authenticate"] == 'Pomerium realm="pomerium"'
    assert response.json == {"type": "about:blank", "title": "Unauthorized", "status": 401,
                             "detail": "no identity token in the request", "reason": "missing",
                             "hint": problem.ADVICE[401]}


def test_lacking_permission_is_403_problem_json(app: TestApp, pomerium: FakePomerium) -> None:
    token = pomerium.token("bob@example.com", ["staff"])
    response = app.get("/admin", headers={"X-Pomerium-Jwt-Assertion": token, **JSON},
                       status=403)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in response.headers
    assert response.json["reason"] == "forbidden"
    assert response.json["detail"] == "access requires the permission 'admin'"
    assert token not in response.text


def bad_tokens(pomerium: FakePomerium) -> dict[str, str]:
    now = int(pomerium.clock())
    return {
        "expired": pomerium.token(iat=now - 4000, exp=now - 3700),
        "audience": pomerium.token(aud="other.example.com"),
        "unknown_key": FakePomerium().token(),
        "malformed": "not.a-jwt",
    }


@pytest.mark.parametrize("reason", ["expired", "audience", "unknown_key", "malformed"])
@pytest.mark.parametrize("path", ["/admin", "/view", "/finance"],
                         ids=["acl-permission", "acl-authenticated", "view-option"])
def test_refused_token_is_401_with_reason(app: TestApp, pomerium: FakePomerium, reason: str,
                                          path: str) -> None:
    token = bad_tokens(pomerium)[reason]
    response = app.get(path, headers={"X-Pomerium-Jwt-Assertion": token, **JSON}, status=401)
    assert response.json["reason"] == reason
    assert token not in response.text


def test_refusal_is_text_by_default(app: TestApp, pomerium: FakePomerium) -> None:
    response = app.get("/admin", status=401)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text == (
        "401 Unauthorized: no identity token in the request (reason: missing)\n"
        f"\n{problem.ADVICE[401]}\n")
    response = app.get("/admin", headers=pomerium.headers(), status=403)
    assert "access requires the permission 'admin'" in response.text


def test_keys_unavailable_is_503_with_retry_after(pomerium: FakePomerium) -> None:
    closed = f"http://127.0.0.1:{free_port()}/.well-known/pomerium/jwks.json"
    settings = {"pomerium.audience": pomerium.audience, "pomerium.jwks_url": closed,
                "pomerium.timeout": "2"}
    app = TestApp(make_config(settings).make_wsgi_app())
    response = app.get("/view", headers={**pomerium.headers(), **JSON}, status=503)
    assert response.headers["Retry-After"] == "5"
    assert response.json["reason"] == "keys_unavailable"


# -- required mode (the default) and exempt paths ----------------------------------------


def test_required_mode_refuses_public_views_without_token(app: TestApp) -> None:
    assert app.get("/whoami", headers=JSON, status=401).json["reason"] == "missing"


def test_required_mode_hides_which_urls_exist(app: TestApp, pomerium: FakePomerium) -> None:
    assert app.get("/no-such-page", status=401)
    assert app.get("/no-such-page", headers=pomerium.headers(), status=404)


def test_exempt_path_needs_no_token(app: TestApp, pomerium: FakePomerium) -> None:
    assert app.get("/healthz").text == "ok"
    bad = {"X-Pomerium-Jwt-Assertion": "garbage"}
    assert app.get("/healthz", headers=bad).text == "ok"  # not even looked at


def test_exempt_path_has_no_identity(pomerium: FakePomerium) -> None:
    app = make_app(pomerium, exempt="/whoami /healthz")
    body = app.get("/whoami", headers=pomerium.headers()).json
    assert body["email"] is None and body["userid"] is None
    assert body["principals"] == [Everyone]


@pytest.mark.parametrize("optional", ["false", "true"], ids=["required", "optional"])
def test_verified_once_per_request(pomerium: FakePomerium, optional: str) -> None:
    app = make_app(pomerium, optional=optional)
    calls: list[Identity] = []

    def receiver(sender: object, identity: Identity, environ: t.Any) -> None:
        calls.append(identity)

    with identity_verified.connected_to(receiver, sender=app.app.registry):
        response = app.get("/counted", headers=pomerium.headers(sub=SUB))
    assert response.text == SUB
    assert len(calls) == 1


# -- optional mode ------------------------------------------------------------------------


def test_optional_public_view_anonymous(optional_app: TestApp) -> None:
    body = optional_app.get("/whoami").json
    assert body["email"] is None and body["userid"] is None
    assert body["principals"] == [Everyone]
    assert body["error"] == "missing"
    assert optional_app.get("/browse").text == "browsed"


def test_optional_public_view_with_identity(optional_app: TestApp,
                                            pomerium: FakePomerium) -> None:
    body = optional_app.get("/whoami", headers=pomerium.headers("ada@example.com")).json
    assert body["email"] == "ada@example.com"


def test_optional_public_view_with_bad_token(optional_app: TestApp,
                                             pomerium: FakePomerium) -> None:
    token = bad_tokens(pomerium)["expired"]
    body = optional_app.get("/whoami", headers={"X-Pomerium-Jwt-Assertion": token}).json
    assert body["email"] is None
    assert body["error"] == "expired"


def test_optional_protected_views_still_401_and_403(optional_app: TestApp,
                                                    pomerium: FakePomerium) -> None:
    assert optional_app.get("/view", headers=JSON, status=401).json["reason"] == "missing"
    assert optional_app.get("/finance", headers=JSON, status=401).json["reason"] == "missing"
    optional_app.get("/admin", headers=pomerium.headers(), status=403)
    assert optional_app.get("/admin", headers=pomerium.headers(groups=["admins"])).text == (
        "admin area")


def test_app_raised_forbidden_is_401_or_403(optional_app: TestApp,
                                            pomerium: FakePomerium) -> None:
    """A view's own ``HTTPForbidden`` is told apart the same way: who is asking?"""
    heard: list[object] = []

    def receiver(sender: object, identity: Identity, requirement: object,
                 environ: t.Any) -> None:
        heard.append(requirement)

    with access_denied.connected_to(receiver, sender=optional_app.app.registry):
        response = optional_app.get("/refuses", headers=JSON, status=401)
        assert response.json["reason"] == "missing"
        response = optional_app.get("/refuses", headers={**pomerium.headers(), **JSON},
                                    status=403)
    assert response.json["detail"] == "access is not permitted"
    assert heard == [None]


def test_optional_unknown_page_is_404(optional_app: TestApp) -> None:
    optional_app.get("/no-such-page", status=404)


# -- claim headers are never trusted ------------------------------------------------------


def test_claim_headers_are_removed(optional_app: TestApp, pomerium: FakePomerium) -> None:
    forged = {"X-Pomerium-Claim-Email": "admin@example.com"}
    body = optional_app.get("/whoami", headers=forged).json
    assert body["claim_header"] is None and body["email"] is None
    body = optional_app.get("/whoami", headers={**forged, **pomerium.headers()}).json
    assert body["claim_header"] is None and body["email"] == "user@example.com"


SEEN_BY_APP_TWEEN: list[t.Any] = []


def app_tween_factory(handler: t.Callable[[t.Any], t.Any], registry: t.Any
                      ) -> t.Callable[[t.Any], t.Any]:
    def app_tween(request: t.Any) -> t.Any:
        SEEN_BY_APP_TWEEN.append(request.headers.get("X-Pomerium-Claim-Email"))
        return handler(request)

    return app_tween


@pytest.mark.parametrize("when", ["added-before-include", "placed-under-it"])
def test_the_apps_own_tweens_never_see_claim_headers(pomerium: FakePomerium,
                                                     when: str) -> None:
    # A tween added with Pyramid's default placement sits above the exception view, so
    # above the verifying tween: it saw a forged X-Pomerium-Claim-Email. The stripping
    # tween goes on top; a tween added after the include goes under it when told so.
    SEEN_BY_APP_TWEEN.clear()
    config = Configurator(settings=settings_for(pomerium), root_factory=Root)
    if when == "added-before-include":
        config.add_tween(f"{__name__}.app_tween_factory")
    config.include("pyramid_pomerium")
    if when == "placed-under-it":
        config.add_tween(f"{__name__}.app_tween_factory",
                         under="pyramid_pomerium.views.claim_headers_tween_factory")
    add_views(config)
    app = TestApp(config.make_wsgi_app())
    forged = {"X-Pomerium-Claim-Email": "admin@example.com"}
    app.get("/whoami", headers=forged, status=401)
    app.get("/whoami", headers={**forged, **pomerium.headers()}, status=200)
    assert SEEN_BY_APP_TWEEN == [None, None]


def test_claim_headers_do_not_authenticate(app: TestApp) -> None:
    forged = {"X-Pomerium-Claim-Email": "ada@example.com",
              "X-Pomerium-Claim-Groups": "admins", **JSON}
    assert app.get("/admin", headers=forged, status=401).json["reason"] == "missing"


# -- view options: pomerium_groups / pomerium_requirement ---------------------------------


@pytest.mark.parametrize(
    ("path", "email", "groups", "status"),
    [
        ("/finance", "bob@example.com", ["finance"], 200),
        ("/finance", "bob@example.com", ["staff"], 403),
        ("/ops", "bob@example.com", ["ops"], 200),
        ("/ops", "bob@example.org", ["ops"], 403),
        ("/ops", "bob@example.com", ["finance"], 403),
    ],
    ids=["groups-allowed", "groups-denied", "both-met", "requirement-denied",
         "groups-denied-with-requirement-met"],
)
def test_view_options(app: TestApp, pomerium: FakePomerium, path: str, email: str,
                      groups: list[str], status: int) -> None:
    response = app.get(path, headers={**pomerium.headers(email, groups), **JSON},
                       status=status)
    if status == 403:
        assert response.json["reason"] == "forbidden"
        assert response.json["detail"].startswith("access requires ")


def test_view_option_detail_names_the_requirement(app: TestApp,
                                                  pomerium: FakePomerium) -> None:
    response = app.get("/finance", headers={**pomerium.headers(), **JSON}, status=403)
    assert response.json["detail"] == "access requires membership of group 'finance'"


def test_view_requirement_combines_options() -> None:
    requirement = view_requirement({"pomerium_groups": ["a", "b"],
                                    "pomerium_requirement": require_email_domain("x.com")})
    assert isinstance(requirement, Requirement)
    assert str(requirement) == (
        "(an email address at 'x.com' and membership of any of the groups 'a', 'b')")
    assert view_requirement({}) is None


@pytest.mark.parametrize(
    "options",
    [{"pomerium_groups": ()}, {"pomerium_groups": [""]}, {"pomerium_groups": [1]},
     {"pomerium_requirement": "admins"}, {"pomerium_requirement": lambda identity: True}],
    ids=["no-groups", "empty-group-name", "non-string-group", "string-requirement",
         "callable-requirement"],
)
def test_bad_view_options_fail_at_configuration(pomerium: FakePomerium,
                                                options: dict[str, t.Any]) -> None:
    with pytest.raises(ConfigurationError):
        view_requirement(options)
    config = Configurator(settings=settings_for(pomerium), root_factory=Root)
    config.include("pyramid_pomerium")
    config.add_route("bad", "/bad")
    config.add_view(text("never"), route_name="bad", **options)
    with pytest.raises(PyramidConfigurationError, match="pomerium_"):
        config.commit()


@view_config(route_name="scanned", pomerium_groups=("admins",))
def scanned_view(request: t.Any) -> Response:
    """Registered only by the scan in test_view_config_decorator_options."""
    return Response("scanned", content_type="text/plain")


def test_view_config_decorator_options(pomerium: FakePomerium) -> None:
    """``@view_config(pomerium_groups=...)`` works through a scan, like any view option."""
    config = Configurator(settings=settings_for(pomerium), root_factory=Root)
    config.include("pyramid_pomerium")
    config.add_route("scanned", "/scanned")
    config.scan(sys.modules[__name__])
    app = TestApp(config.make_wsgi_app())
    assert app.get("/scanned", headers=pomerium.headers(groups=["admins"])).text == "scanned"
    app.get("/scanned", headers=pomerium.headers(groups=["staff"]), status=403)


# -- settings from strings ----------------------------------------------------------------


def policy_of(config: Configurator) -> PomeriumSecurityPolicy:
    config.commit()
    policy = config.registry.queryUtility(ISecurityPolicy)
    assert isinstance(policy, PomeriumSecurityPolicy)
    return policy


def test_settings_parsed_from_strings(pomerium: FakePomerium) -> None:
    settings = settings_for(
        pomerium,
        audience=f"{pomerium.audience}\n  second.example.com",
        issuer="https://app.example.com/ app.example.com",
        algorithms="ES256",
        leeway="45",
        timeout="2.5",
        exempt="/healthz\n/static/",
        header="X-Test-Assertion",
        optional="off",
    )
    config = Configurator(settings=settings)
    config.include("pyramid_pomerium")
    policy = policy_of(config)
    verifier = policy.verifier
    assert verifier.audiences == {"app.example.com", "second.example.com"}
    assert verifier.issuers == {"https://app.example.com/", "app.example.com"}
    assert verifier.algorithms == {"ES256"}
    assert verifier.leeway == 45.0
    assert policy.exempt == ("/healthz", "/static")
    assert policy.header == "X-Test-Assertion"


@pytest.mark.parametrize(
    ("flag", "optional"),
    [("true", True), ("Yes", True), ("on", True), ("1", True), ("false", False),
     ("no", False), ("0", False), ("", False), (True, True), (False, False)],
    ids=lambda value: repr(value),
)
def test_optional_flag_words(pomerium: FakePomerium, flag: t.Any, optional: bool) -> None:
    settings = {**settings_for(pomerium), "pomerium.optional": flag}
    app = TestApp(make_config(settings).make_wsgi_app())
    app.get("/whoami", status=200 if optional else 401)


def test_custom_header_setting(pomerium: FakePomerium) -> None:
    app = make_app(pomerium, header="X-Test-Assertion")
    token = pomerium.token()
    assert app.get("/view", headers={"X-Test-Assertion": token}).text == "viewed"
    app.get("/view", headers={"X-Pomerium-Jwt-Assertion": token}, status=401)


def test_jwks_url_setting_fetches_keys(pomerium: FakePomerium) -> None:
    with pomerium.serve() as jwks_url:
        settings = {"pomerium.audience": pomerium.audience, "pomerium.jwks_url": jwks_url}
        app = TestApp(make_config(settings).make_wsgi_app())
        assert app.get("/view", headers=pomerium.headers()).text == "viewed"
    assert pomerium.jwks_requests == 1


def test_pem_jwks_setting(pomerium: FakePomerium) -> None:
    pem = pomerium.signing_key.key.as_pem(private=False).decode()
    settings = {"pomerium.audience": pomerium.audience, "pomerium.jwks": pem}
    app = TestApp(make_config(settings).make_wsgi_app())
    assert app.get("/view", headers=pomerium.headers()).text == "viewed"


def test_ready_verifier_setting(pomerium: FakePomerium) -> None:
    verifier = pomerium.verifier()
    config = make_config({"pomerium.verifier": verifier})
    assert policy_of(config).verifier is verifier
    app = TestApp(config.make_wsgi_app())
    assert app.get("/view", headers=pomerium.headers()).text == "viewed"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "pomerium.audience is not set, nor the POMERIUM_AUDIENCE"),
        ({"pomerium.audience": "  "}, "pomerium.audience is not set, nor the POMERIUM_AUDIENCE"),
        ({"pomerium.audience": "app.example.com", "pomerium.leeway": "soon"},
         "pomerium.leeway must be a number"),
        ({"pomerium.audience": "app.example.com", "pomerium.leeway": "999"}, "leeway"),
        ({"pomerium.audience": "app.example.com", "pomerium.algorithms": "HS256"},
         "'HS256' is not accepted"),
        ({"pomerium.audience": "app.example.com", "pomerium.optional": "ture"},
         "pomerium.optional must be a boolean"),
        ({"pomerium.audience": "app.example.com", "pomerium.exempt": "healthz"},
         "must start with '/'"),
        ({"pomerium.audience": "app.example.com",
          "pomerium.jwks_url": "http://keys.example.com/jwks.json"}, "jwks_url"),
        ({"pomerium.audience": "app.example.com", "pomerium.jwks": "{not json",
          }, "jwks"),
        ({"pomerium.audience": "app.example.com", "pomerium.jwks": "{}",
          "pomerium.jwks_url": "https://app.example.com/jwks.json"}, "not both"),
        ({"pomerium.verifier": "not a verifier"}, "must be a pomerium_wsgi.Verifier"),
        ({"pomerium.audience": "https:///nohost"}, "no host"),
        ({"pomerium.audience": "app.example.com", "pomerium.cache": "redis://127.0.0.1"},
         "pomerium.cache is not a setting.*pomerium.verifier"),
        ({"pomerium.verifier": Verifier("app.example.com"), "pomerium.cache": None},
         "pomerium.cache is not a setting"),
    ],
    ids=["no-audience", "blank-audience", "leeway-not-a-number", "leeway-out-of-range",
         "hmac-algorithm", "optional-typo", "exempt-relative", "http-jwks-url",
         "jwks-not-json", "jwks-and-jwks-url", "verifier-wrong-type", "audience-no-host",
         "cache-setting", "cache-setting-with-verifier"],
)
def test_configuration_errors_at_include(settings: dict[str, t.Any], message: str) -> None:
    config = Configurator(settings=settings)
    with pytest.raises(ConfigurationError, match=message) as info:
        config.include("pyramid_pomerium")
    # Catchable as the core's error (a ValueError) and as Pyramid's.
    assert isinstance(info.value, pomerium_wsgi.ConfigurationError)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PyramidConfigurationError)


def test_verifier_setting_wins_over_verifier_settings_and_environment(
        pomerium: FakePomerium, monkeypatch: pytest.MonkeyPatch) -> None:
    """Production settings plus a test's ready verifier: the verifier is used, the
    other verifier settings and every POMERIUM_* variable are not."""
    monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
    verifier = pomerium.verifier()
    config = Configurator(settings={"pomerium.verifier": verifier,
                                    "pomerium.audience": "prod.example.com",
                                    "pomerium.jwks_url": "https://keys.internal/jwks.json"})
    config.include("pyramid_pomerium")
    config.add_route("home", "/")
    config.add_view(lambda request: Response(request.identity.email), route_name="home")
    app = TestApp(config.make_wsgi_app())
    assert config.registry.queryUtility(ISecurityPolicy).verifier is verifier
    assert app.get("/", headers=pomerium.headers("a@x.com")).text == "a@x.com"
    assert app.get("/", status=401).status_code == 401  # not optional: the env is ignored


def test_configuration_error_never_contains_jwks_text(pomerium: FakePomerium) -> None:
    secret = "-----BEGIN PRIVATE KEY-----\nnotreallyakey\n-----END PRIVATE KEY-----\n"
    config = Configurator(settings={"pomerium.audience": "a.example.com",
                                    "pomerium.jwks": secret})
    with pytest.raises(ConfigurationError) as info:
        config.include("pyramid_pomerium")
    assert "notreallyakey" not in str(info.value)


# -- the policy set by hand ---------------------------------------------------------------


def hand_made_app(pomerium: FakePomerium) -> TestApp:
    config = Configurator(root_factory=Root)
    config.set_security_policy(PomeriumSecurityPolicy(pomerium.verifier(), exempt="/healthz"))
    config.add_forbidden_view(forbidden_view)
    for path, permission in [("/whoami", None), ("/view", "view"), ("/admin", "admin")]:
        name = path.strip("/")
        config.add_route(name, path)
        config.add_view(whoami if name == "whoami" else text(name), route_name=name,
                        permission=permission)
    return TestApp(config.make_wsgi_app())


def test_policy_set_by_hand(pomerium: FakePomerium) -> None:
    app = hand_made_app(pomerium)
    # Verified only when asked: public views stay public (optional mode).
    assert app.get("/whoami").json["email"] is None
    assert app.get("/whoami", headers=pomerium.headers()).json["email"] == "user@example.com"
    assert app.get("/view", headers=JSON, status=401).json["reason"] == "missing"
    assert app.get("/view", headers=pomerium.headers()).text == "view"
    app.get("/admin", headers=pomerium.headers(), status=403)
    assert app.get("/admin", headers=pomerium.headers(groups=["admins"])).text == "admin"


def test_policy_without_forbidden_view_still_denies(pomerium: FakePomerium) -> None:
    """Without the adapter's forbidden view, Pyramid's own 403 answers: closed, not open."""
    config = Configurator(root_factory=Root)
    config.set_security_policy(PomeriumSecurityPolicy(pomerium.verifier()))
    config.add_route("admin", "/admin")
    config.add_view(text("admin"), route_name="admin", permission="admin")
    app = TestApp(config.make_wsgi_app())
    app.get("/admin", status=403)
    app.get("/admin", headers=pomerium.headers(), status=403)
    assert app.get("/admin", headers=pomerium.headers(groups=["admins"])).text == "admin"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((object(),), {}), ((None,), {}),
     ((Verifier("a.example.com"),), {"header": " "}),
     ((Verifier("a.example.com"),), {"exempt": ["healthz"]}),
     ((Verifier("a.example.com"),), {"exempt": "healthz"})],
    ids=["not-a-verifier", "none", "blank-header", "relative-exempt",
         "relative-exempt-string"],
)
def test_policy_constructor_checks(args: tuple[t.Any, ...], kwargs: dict[str, t.Any]) -> None:
    with pytest.raises(pomerium_wsgi.ConfigurationError):
        PomeriumSecurityPolicy(*args, **kwargs)


def test_policy_repr_shows_no_key_material(pomerium: FakePomerium) -> None:
    text_ = repr(PomeriumSecurityPolicy(pomerium.verifier()))
    assert text_.startswith("PomeriumSecurityPolicy(Verifier(")
    assert pomerium.jwks["keys"][0]["x"] not in text_


# -- signals ------------------------------------------------------------------------------


def test_signals_sent_with_the_registry_as_sender(app: TestApp,
                                                  pomerium: FakePomerium) -> None:
    registry = app.app.registry
    events: list[tuple[str, object, t.Any]] = []

    def on_verified(sender: object, identity: Identity, environ: t.Any) -> None:
        events.append(("verified", sender, identity.email))

    def on_failed(sender: object, error: Exception, environ: t.Any) -> None:
        events.append(("failed", sender, getattr(error, "reason", None)))

    def on_denied(sender: object, identity: Identity, requirement: object,
                  environ: t.Any) -> None:
        events.append(("denied", sender, (identity.email, requirement)))

    with identity_verified.connected_to(on_verified, sender=registry), \
            verification_failed.connected_to(on_failed, sender=registry), \
            access_denied.connected_to(on_denied, sender=registry):
        app.get("/view", headers=pomerium.headers("ada@example.com"))
        app.get("/view", status=401)
        app.get("/admin", headers=pomerium.headers("bob@example.com"), status=403)
        app.get("/finance", headers=pomerium.headers("eve@example.com"), status=403)

    assert [(kind, payload) for kind, _, payload in events[:4]] == [
        ("verified", "ada@example.com"),
        ("failed", "missing"),
        ("verified", "bob@example.com"),
        ("denied", ("bob@example.com", "admin")),  # the ACL permission name
    ]
    kind, _, (email, requirement) = events[5]
    assert (kind, email) == ("denied", "eve@example.com")
    assert isinstance(requirement, Requirement)  # the view option's requirement
    assert str(requirement) == "membership of group 'finance'"
    assert len(events) == 6
    assert all(sender is registry for _, sender, _ in events)


def test_signals_for_another_app_are_not_received(pomerium: FakePomerium) -> None:
    first, second = make_app(pomerium), make_app(pomerium)
    heard: list[object] = []

    def receiver(sender: object, **kwargs: t.Any) -> None:
        heard.append(sender)

    with identity_verified.connected_to(receiver, sender=first.app.registry):
        second.get("/view", headers=pomerium.headers())
        assert heard == []
        first.get("/view", headers=pomerium.headers())
    assert heard == [first.app.registry]


def test_no_access_denied_signal_for_401(app: TestApp, pomerium: FakePomerium) -> None:
    heard: list[object] = []

    def receiver(sender: object, **kwargs: t.Any) -> None:
        heard.append(kwargs)

    with access_denied.connected_to(receiver):
        app.get("/admin", status=401)
        app.get("/finance", headers={"X-Pomerium-Jwt-Assertion": "bad"}, status=401)
    assert heard == []


def test_failing_receiver_does_not_change_response(app: TestApp,
                                                   pomerium: FakePomerium) -> None:
    def broken(sender: object, **kwargs: t.Any) -> None:
        raise RuntimeError("receiver bug")

    with identity_verified.connected_to(broken), access_denied.connected_to(broken), \
            verification_failed.connected_to(broken):
        assert app.get("/view", headers=pomerium.headers()).text == "viewed"
        app.get("/admin", headers=pomerium.headers(), status=403)
        app.get("/view", status=401)


# -- the example app ----------------------------------------------------------------------


def test_example_app_factory_reads_env_over_settings(pomerium: FakePomerium,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from examples.pyramid.app import main

    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_AUDIENCE", pomerium.audience)
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)
        app = TestApp(main({}, **{"pomerium.audience": "ignored.example.com",
                                  "pomerium.jwks_url": "https://ignored.example.com/j"}))
        assert app.get("/", headers={**pomerium.headers("ada@example.com"), **JSON}
                       ).json["email"] == "ada@example.com"
        app.get("/admin", headers=pomerium.headers(), status=403)
        assert app.get("/admin", headers=pomerium.headers("ops@example.com")).status_int == 200
        assert app.get("/reports", headers=pomerium.headers(groups=["finance"])).status_int == (
            200)
        app.get("/reports", headers=pomerium.headers(), status=403)
        assert app.get("/healthz").text == "ok\n"
        app.get("/", status=401)


# -- exempt prefixes and dot segments (traversal) ---------------------------------------------


class Secret:
    """A traversal resource whose view needs no permission: only the tween guards it."""

    __name__ = "secret"


class Health:
    __name__ = "healthz"


class TraversalRoot:
    """``/healthz`` and ``/secret`` by traversal, which resolves ``.`` and ``..``."""

    __acl__: t.ClassVar[list[t.Any]] = [(Allow, Authenticated, "view"), DENY_ALL]

    def __init__(self, request: t.Any) -> None:
        self.children = {"healthz": Health(), "secret": Secret()}

    def __getitem__(self, name: str) -> t.Any:
        return self.children[name]


@pytest.fixture
def traversal_app(pomerium: FakePomerium) -> TestApp:
    settings = settings_for(pomerium, exempt="/healthz")
    config = Configurator(settings=settings, root_factory=TraversalRoot)
    config.include("pyramid_pomerium")
    config.add_view(text("the secret"), context=Secret, permission=NO_PERMISSION_REQUIRED)
    config.add_view(text("ok"), context=Health, permission=NO_PERMISSION_REQUIRED)
    return TestApp(config.make_wsgi_app())


@pytest.mark.parametrize(
    "path",
    ["/healthz/../secret", "/healthz/%2e%2e/secret", "/healthz/%2E%2E/secret",
     "/healthz/./../secret", "/healthz//../secret"],
    ids=["dot-dot", "encoded-dot-dot", "encoded-upper-dot-dot", "dot-then-dot-dot",
         "empty-segment"],
)
def test_dot_segments_below_exempt_prefix_are_verified(traversal_app: TestApp,
                                                       pomerium: FakePomerium,
                                                       path: str) -> None:
    response = traversal_app.get(path, headers=JSON, status=401)
    assert response.json["reason"] == "missing"
    assert "the secret" not in response.text
    # With a valid token the same path reaches the view: nothing legitimate is lost.
    assert traversal_app.get(path, headers=pomerium.headers()).text == "the secret"


def test_traversal_app_exempt_and_protected_paths(traversal_app: TestApp) -> None:
    assert traversal_app.get("/healthz").text == "ok"
    assert traversal_app.get("/secret", status=401)


@pytest.mark.parametrize(
    ("path", "exempt"),
    [("/healthz", True), ("/healthz/live", True), ("/healthzz", False),
     ("/healthz/../secret", False), ("/healthz/./live", False), ("/healthz//live", False)],
    ids=["prefix", "below-prefix", "longer-name", "dot-dot", "dot", "empty-segment"],
)
def test_policy_is_exempt(pomerium: FakePomerium, path: str, exempt: bool) -> None:
    policy = PomeriumSecurityPolicy(pomerium.verifier(), exempt="/healthz")
    assert policy.is_exempt(path) is exempt


# -- optional mode sends the signals, as the core does -------------------------------------


def test_optional_mode_sends_signals_without_reading_identity(pomerium: FakePomerium
                                                               ) -> None:
    app = make_app(pomerium, optional="true")
    registry = app.app.registry
    events: list[tuple[str, t.Any]] = []

    def on_verified(sender: object, identity: Identity, environ: t.Any) -> None:
        events.append(("verified", identity.email))

    def on_failed(sender: object, error: Exception, environ: t.Any) -> None:
        events.append(("failed", getattr(error, "reason", None)))

    with identity_verified.connected_to(on_verified, sender=registry), \
            verification_failed.connected_to(on_failed, sender=registry):
        # No view runs for /nowhere (404), so nothing but the tween reads the identity;
        # /healthz is exempt and is not verified at all.
        app.get("/nowhere", headers=pomerium.headers("ada@example.com"), status=404)
        app.get("/nowhere", headers={"X-Pomerium-Jwt-Assertion": "junk"}, status=404)
        app.get("/nowhere", status=404)
        app.get("/healthz", headers=pomerium.headers("bob@example.com"))
    assert events == [("verified", "ada@example.com"), ("failed", "malformed"),
                      ("failed", "missing")]


# -- a path prefix and named views (traversal) -----------------------------------------------


class PublicFolder:
    """``/public``: a traversal folder whose own page is meant to be public."""

    __name__ = "public"
    __acl__: t.ClassVar[list[t.Any]] = [(Allow, "group:admins", "admin"), DENY_ALL]

    def __getitem__(self, name: str) -> t.Any:
        raise KeyError(name)  # no children: "export" below it is a view name


class PublicRoot:
    __acl__: t.ClassVar[list[t.Any]] = [(Allow, Authenticated, "view"), DENY_ALL]

    def __init__(self, request: t.Any) -> None:
        self.children = {"public": PublicFolder()}

    def __getitem__(self, name: str) -> t.Any:
        return self.children[name]


def public_folder_app(pomerium: FakePomerium, *, opt_in: bool = False,
                      **extra: str) -> TestApp:
    """``pomerium.exempt = /public`` over a traversal folder, and a named view
    ``export`` registered for any context with no permission (the case that leaked)."""
    config = Configurator(settings=settings_for(pomerium, exempt="/public", **extra),
                          root_factory=PublicRoot)
    config.include("pyramid_pomerium")
    config.add_view(text("folder page"), context=PublicFolder)
    config.add_view(text("exported"), name="export",
                    **({"pomerium_exempt": True} if opt_in else {}))
    config.add_view(text("admin view"), name="manage", context=PublicFolder,
                    permission="admin")
    return TestApp(config.make_wsgi_app())


@pytest.mark.parametrize("path", ["/public/export", "/public/@@export", "/export"],
                         ids=["view-name", "at-at-view-name", "outside-the-prefix"])
def test_exempt_prefix_does_not_open_named_views(pomerium: FakePomerium, path: str) -> None:
    app = public_folder_app(pomerium)
    response = app.get(path, headers=JSON, status=401)
    assert response.json["reason"] == "missing" and "exported" not in response.text
    # With a token the view is served as usual.
    assert app.get(path, headers=pomerium.headers()).text == "exported"


def test_exempt_prefix_still_opens_the_resource_itself(pomerium: FakePomerium) -> None:
    app = public_folder_app(pomerium)
    assert app.get("/public").text == "folder page"
    assert app.get("/public/", headers={"X-Pomerium-Claim-Email": "a@b.c"}).text == "folder page"


@pytest.mark.parametrize(("path", "status"),
                         [("/public/export", 200), ("/public/@@export", 200), ("/export", 401)],
                         ids=["view-name", "at-at-view-name", "outside-the-prefix"])
def test_pomerium_exempt_view_opts_in_under_the_prefix(pomerium: FakePomerium, path: str,
                                                       status: int) -> None:
    app = public_folder_app(pomerium, opt_in=True)
    response = app.get(path, status=status)
    assert ("exported" in response.text) is (status == 200)


def test_named_view_under_the_prefix_checks_its_permission_with_the_token(
    pomerium: FakePomerium
) -> None:
    app = public_folder_app(pomerium)
    assert app.get("/public/manage", headers=JSON, status=401).json["reason"] == "missing"
    app.get("/public/manage", headers=pomerium.headers(groups=["staff"]), status=403)
    assert app.get("/public/manage", headers=pomerium.headers(groups=["admins"])).text \
        == "admin view"


def test_named_view_under_the_prefix_in_optional_mode(pomerium: FakePomerium) -> None:
    app = public_folder_app(pomerium, optional="true")
    assert app.get("/public/export").text == "exported"
    assert app.get("/public/manage", headers=pomerium.headers(groups=["admins"])).text \
        == "admin view"


def test_pomerium_exempt_must_be_a_bool(pomerium: FakePomerium) -> None:
    config = Configurator(settings=settings_for(pomerium))
    config.include("pyramid_pomerium")
    with pytest.raises(PyramidConfigurationError, match="pomerium_exempt"):
        config.add_view(text("x"), name="x", pomerium_exempt="yes")
        config.commit()


# -- CORS preflight, refusal pages, Accept ---------------------------------------------------


PREFLIGHT = {"Origin": "https://web.example.com", "Access-Control-Request-Method": "POST"}


def test_cors_preflight_setting(pomerium: FakePomerium) -> None:
    app = make_app(pomerium, cors_preflight="true")
    forged = {"X-Pomerium-Claim-Email": "admin@example.com"}
    response = app.options("/whoami", headers={**PREFLIGHT, **forged})
    assert response.json["email"] is None and response.json["claim_header"] is None
    assert response.json["principals"] == [Everyone] and response.json["error"] is None
    app.options("/whoami", status=401)  # not a preflight
    app.post("/whoami", headers=PREFLIGHT, status=401)
    assert app.get("/whoami", headers=pomerium.headers()).json["email"] == "user@example.com"
    make_app(pomerium).options("/whoami", headers=PREFLIGHT, status=401)  # off by default
    with pytest.raises(PyramidConfigurationError, match="cors_preflight"):
        make_app(pomerium, cors_preflight="sometimes")


@pytest.mark.parametrize(("accept", "content_type"), list(REFUSAL_BY_ACCEPT.values()),
                         ids=list(REFUSAL_BY_ACCEPT))
def test_refusal_page_by_accept_parsed_once(
    app: TestApp, monkeypatch: pytest.MonkeyPatch, accept: str, content_type: str
) -> None:
    calls: list[str | None] = []
    real = problem.preferred_format
    monkeypatch.setattr(problem, "preferred_format",
                        lambda value: calls.append(value) or real(value))
    response = app.get("/admin", headers={"Accept": accept}, status=401)
    assert response.headers["Content-Type"] == content_type
    assert "through Pomerium" in response.text and "missing" in response.text
    assert len(calls) == 1


def test_static_view_under_an_exempt_prefix_stays_open(pomerium: FakePomerium,
                                                       tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.txt").write_text("static file")
    config = Configurator(settings=settings_for(pomerium, exempt="/static"))
    config.include("pyramid_pomerium")
    config.add_static_view("static", str(tmp_path))
    app = TestApp(config.make_wsgi_app())
    assert app.get("/static/a.txt").text == "static file"


# -- the environment -------------------------------------------------------------------


def test_settings_left_out_come_from_the_environment(pomerium: FakePomerium,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """As under ``pomerium-wsgi dev``: the .ini names the audience (and a newline list of
    exempt paths), the environment the JWKS URL and optional mode."""
    with pomerium.serve() as jwks_url:
        monkeypatch.setenv("POMERIUM_AUDIENCE", "ignored.example.com")
        monkeypatch.setenv("POMERIUM_JWKS_URL", jwks_url)
        monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
        config = Configurator(settings={"pomerium.audience": pomerium.audience,
                                        "pomerium.exempt": "\n/healthz\n/status"})
        config.include("pyramid_pomerium")
        config.add_route("home", "/")
        config.add_view(lambda request: Response(getattr(request.identity, "email", "anon")),
                        route_name="home")
        app = TestApp(config.make_wsgi_app())
        policy = config.registry.queryUtility(ISecurityPolicy)
        assert policy.verifier.audiences == {pomerium.audience}
        assert policy.exempt == ("/healthz", "/status")
        assert app.get("/", headers=pomerium.headers("a@x.com")).text == "a@x.com"
        assert app.get("/").text == "anon"  # optional, from the environment


def test_jwks_setting_excludes_the_environments_jwks_url(pomerium: FakePomerium,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POMERIUM_JWKS_URL", "https://keys.example.com/jwks.json")
    monkeypatch.setenv("POMERIUM_OPTIONAL", "true")
    config = Configurator(settings={"pomerium.audience": pomerium.audience,
                                    "pomerium.jwks": json.dumps(pomerium.jwks),
                                    "pomerium.optional": "false"})
    config.include("pyramid_pomerium")
    config.commit()
    assert isinstance(config.registry.queryUtility(ISecurityPolicy).verifier.keys, StaticKeys)
    assert config.get_settings()["pomerium.optional"] is False
