"""Requirements, their combinations and str(), and protect()."""

from __future__ import annotations

import json
import time
import typing as t

import pytest
from werkzeug.test import Client

from pomerium_wsgi import (
    Identity,
    PomeriumMiddleware,
    Requirement,
    protect,
    require_all_groups,
    require_claim,
    require_email,
    require_email_domain,
    require_group,
    require_identity,
)
from pomerium_wsgi.authz import normalise_domain
from pomerium_wsgi.signals import access_denied
from pomerium_wsgi.testing import FakePomerium


def identity(pomerium: FakePomerium, email: str = "alice@example.com",
             groups: t.Sequence[str] = ("staff",), **claims: t.Any) -> Identity:
    return pomerium.verifier().verify(pomerium.token(email, list(groups), **claims))


CASES = {
    "identity": (require_identity(), {}, True),
    "group-any-hit": (require_group("admins", "staff"), {}, True),
    "group-miss": (require_group("admins"), {}, False),
    "group-no-groups": (require_group("admins"), {"groups": []}, False),
    "all-groups-hit": (require_all_groups("staff", "eng"), {"groups": ["eng", "staff"]}, True),
    "all-groups-partial": (require_all_groups("staff", "eng"), {}, False),
    "email-case-insensitive": (require_email("ALICE@Example.com"), {}, True),
    "email-miss": (require_email("bob@example.com"), {}, False),
    "domain-hit": (require_email_domain("example.com"), {}, True),
    "domain-at-prefix": (require_email_domain("@example.com"), {}, True),
    "domain-suffix-attack": (require_email_domain("example.com"),
                             {"email": "a@evil-example.com"}, False),
    "domain-subdomain": (require_email_domain("example.com"), {"email": "a@x.example.com"},
                         False),
    "domain-appended": (require_email_domain("example.com"),
                        {"email": "a@example.com.evil.io"}, False),
    "domain-no-email": (require_email_domain("example.com"), {"email": ""}, False),
    # Only ASCII case folds: str.lower() maps KELVIN SIGN (U+212A) to "k", and dotted
    # capital I (U+0130) to "i" + a combining dot: distinct addresses, distinct people.
    "email-kelvin-sign-is-not-k": (require_email("kate@example.com"),
                                   {"email": "\u212aate@example.com"}, False),
    "email-kelvin-sign-configured": (require_email("\u212aate@example.com"),
                                     {"email": "kate@example.com"}, False),
    "email-dotted-capital-i": (require_email("ivy@example.com"),
                               {"email": "\u0130vy@example.com"}, False),
    "email-unicode-local-exact": (require_email("j\u00f6rg@example.com"),
                                  {"email": "J\u00f6rg@EXAMPLE.com"}, True),
    "email-unicode-local-case-differs": (require_email("j\u00f6rg@example.com"),
                                         {"email": "J\u00d6RG@example.com"}, False),
    "domain-kelvin-sign-is-not-k": (require_email_domain("kexample.com"),
                                    {"email": "a@\u212aexample.com"}, False),
    "domain-idn-a-label-matches-u-label": (require_email_domain("xn--bcher-kva.example"),
                                           {"email": "a@b\u00fccher.EXAMPLE"}, True),
    "domain-idn-u-label-matches-a-label": (require_email_domain("b\u00fccher.example"),
                                           {"email": "a@XN--BCHER-KVA.example"}, True),
    "email-idn-domain": (require_email("a@b\u00fccher.example"),
                         {"email": "A@xn--bcher-kva.example"}, True),
    "claim-value": (require_claim("dept", "eng", "ops"), {"dept": "ops"}, True),
    "claim-value-miss": (require_claim("dept", "eng"), {"dept": "sales"}, False),
    "claim-absent": (require_claim("dept", "eng"), {}, False),
    "claim-list": (require_claim("roles", "admin"), {"roles": ["user", "admin"]}, True),
    # No values: present and exactly JSON true (Cognito sends some flags as strings).
    "claim-true": (require_claim("email_verified"), {"email_verified": True}, True),
    "claim-string-false": (require_claim("email_verified"), {"email_verified": "false"}, False),
    "claim-string-true": (require_claim("email_verified"), {"email_verified": "true"}, False),
    "claim-false": (require_claim("email_verified"), {"email_verified": False}, False),
    "claim-one": (require_claim("email_verified"), {"email_verified": 1}, False),
    "claim-non-empty-string": (require_claim("dept"), {"dept": "x"}, False),
    "claim-no-values-absent": (require_claim("email_verified"), {}, False),
    "claim-string-flag-by-value": (require_claim("email_verified", "true"),
                                   {"email_verified": "true"}, True),
    "claim-bool-is-not-int": (require_claim("level", 1), {"level": True}, False),
    "claim-predicate": (require_claim("level", lambda v: v >= 3), {"level": 5}, True),
    "claim-predicate-raises": (require_claim("level", lambda v: v >= 3), {"level": "x"}, False),
    "and-both": (require_group("staff") & require_email_domain("example.com"), {}, True),
    "and-one": (require_group("staff") & require_email("bob@example.com"), {}, False),
    "or-one": (require_group("admins") | require_email("alice@example.com"), {}, True),
    "or-none": (require_group("admins") | require_email("bob@example.com"), {}, False),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_requirements(case: str, pomerium: FakePomerium) -> None:
    requirement, overrides, expected = CASES[case]
    claims = dict(overrides)
    email = claims.pop("email", "alice@example.com")
    groups = claims.pop("groups", ["staff"])
    assert requirement(identity(pomerium, email, groups, **claims)) is expected


def test_no_identity_never_passes() -> None:
    assert require_identity()(None) is False


@pytest.mark.parametrize(
    "requirement, text",
    [(require_identity(), "a verified identity"),
     (require_group("admins"), "membership of group 'admins'"),
     (require_group("a", "b"), "membership of any of the groups 'a', 'b'"),
     (require_all_groups("a", "b"), "membership of all of the groups 'a', 'b'"),
     (require_email("x@example.com"), "the email address 'x@example.com'"),
     (require_email_domain("example.com"), "an email address at 'example.com'"),
     (require_claim("dept", "eng"), "claim 'dept' in 'eng'"),
     (require_claim("email_verified"), "claim 'email_verified' equal to true"),
     (require_group("a") & require_group("b") & require_group("c"),
      "(membership of group 'a' and membership of group 'b' and membership of group 'c')"),
     (require_group("a") | (require_email("x@y.z") & require_group("b")),
      "(membership of group 'a' or (the email address 'x@y.z' and membership of group 'b'))")],
    ids=["identity", "group", "groups", "all-groups", "email", "domain", "claim",
         "claim-no-values", "and",
         "or-and"],
)
def test_readable_str(requirement: Requirement, text: str) -> None:
    assert str(requirement) == text
    assert text in repr(requirement)


@pytest.mark.parametrize("make", [lambda: require_group(), lambda: require_email(""),
                                  lambda: require_claim("")],
                         ids=["no-groups", "empty-email", "no-claim-name"])
def test_requirement_argument_errors(make: t.Callable[[], Requirement]) -> None:
    with pytest.raises(TypeError):
        make()


def test_combining_with_non_requirement_fails() -> None:
    with pytest.raises(TypeError):
        require_group("a") & "admins"  # type: ignore[operator]


def hello(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_protect_answers_401_403_200(pomerium: FakePomerium) -> None:
    denied: list[dict[str, t.Any]] = []

    def on_denied(sender: object, **kw: t.Any) -> None:
        denied.append({"sender": sender, **kw})

    inner = protect(hello, require_group("admins"), sender="admin-area")
    app = Client(PomeriumMiddleware(inner, pomerium.verifier(), optional=True))
    with access_denied.connected_to(on_denied):
        anonymous = app.get("/", headers={"Accept": "application/json"})
        forbidden = app.get("/", headers={"Accept": "application/json",
                                          **pomerium.headers(groups=["staff"])})
        allowed = app.get("/", headers=pomerium.headers(groups=["admins"]))
        bad = app.get("/", headers={"Accept": "application/json",
                                    **pomerium.headers(aud="x.example.com")})
    assert anonymous.status_code == 401 and anonymous.json["reason"] == "missing"
    assert bad.status_code == 401 and bad.json["reason"] == "audience"
    assert forbidden.status_code == 403 and forbidden.json["reason"] == "forbidden"
    assert "membership of group 'admins'" in forbidden.json["detail"]
    assert allowed.status_code == 200 and allowed.data == b"hello"
    assert len(denied) == 1
    assert denied[0]["sender"] == "admin-area"
    assert denied[0]["identity"].groups == ("staff",)
    assert denied[0]["requirement"] is inner.requirement  # type: ignore[attr-defined]
    assert denied[0]["environ"]["PATH_INFO"] == "/"
    assert json.loads(forbidden.data)["status"] == 403


def test_protect_needs_a_requirement() -> None:
    with pytest.raises(TypeError):
        protect(hello, "admins")  # type: ignore[arg-type]


def test_delegating_requirement_stands_for_what_it_wraps() -> None:
    from pomerium_wsgi.authz import Delegating

    inner = require_group("admins")
    outer = Delegating(Delegating(inner))
    assert outer.requirement is inner  # a wrapper of a wrapper wraps the real thing
    assert str(outer) == str(inner)
    with pytest.raises(TypeError, match="needs a Requirement"):
        Delegating("admins")  # type: ignore[arg-type]


# -- a core requirement used where a decorator belongs ---------------------------------


def _view() -> str:
    return "view"


class _Page:
    pass


@pytest.mark.parametrize(
    ("requirement", "target", "what", "decorator"),
    [
        (require_group("admins"), _view, "the function _view", "flask_pomerium.require_group"),
        (require_group("admins"), _Page, "the class _Page",
         "django_pomerium.decorators.require_group"),
        (require_email("a@x.com"), {"email": "a@x.com"}, "a dict",
         "bottle_pomerium.require_email"),
        (require_group("a") | require_email_domain("x.com"), _view, "the function _view",
         "fastapi_pomerium.requires"),
    ],
    ids=["function", "class", "claims-dict", "combined"],
)
def test_a_requirement_refuses_anything_but_an_identity(
        requirement: Requirement, target: object, what: str, decorator: str) -> None:
    with pytest.raises(TypeError) as info:
        requirement(target)  # type: ignore[arg-type]
    message = str(info.value)
    assert f"checks an Identity or None, not {what}" in message
    assert decorator in message


def test_flask_methodview_under_a_core_requirement_is_a_type_error() -> None:
    """The README slip: the core's require_group above a MethodView used to turn the
    class into False."""
    from flask.views import MethodView

    with pytest.raises(TypeError, match=r"not the class Settings: .*flask_pomerium\."
                                        r"require_group\(\.\.\.\)"):

        @require_group("admins")
        class Settings(MethodView):
            pass


def test_a_proxy_for_no_identity_is_anonymous(pomerium: FakePomerium) -> None:
    """A werkzeug LocalProxy bound to None (flask_pomerium.current_identity when
    anonymous) is checked as None; bound to an identity, as that identity."""
    from werkzeug.local import LocalProxy

    anonymous = LocalProxy(lambda: None)
    signed_in = LocalProxy(lambda: identity(pomerium, groups=["admins"]))
    assert require_group("admins")(anonymous) is False  # type: ignore[arg-type]
    assert require_group("admins")(signed_in) is True  # type: ignore[arg-type]


LONG_LABEL = "".join(chr(0x4E00 + i) for i in range(6000))  # 6,000 distinct CJK characters
LONG_DOMAINS = {
    "one-long-label": f"{LONG_LABEL}.example.com",
    "many-short-labels": ".".join([LONG_LABEL[i:i + 60] for i in range(0, 6000, 60)]),
}


@pytest.mark.parametrize("domain", list(LONG_DOMAINS.values()), ids=list(LONG_DOMAINS))
def test_a_huge_email_domain_is_compared_in_bounded_time(domain: str,
                                                         pomerium: FakePomerium) -> None:
    # Punycode is quadratic: the long label took about 6 s to encode before (the many
    # short labels 0.06 s per check), in require_email, require_email_domain and
    # Pyramid's email: principal alike.
    who = identity(pomerium, f"a@{domain}")
    started = time.perf_counter()
    assert require_email_domain("example.com", domain)(who) is True
    assert require_email(f"b@{domain}")(who) is False
    assert require_email_domain("xn--example.com")(who) is False
    assert time.perf_counter() - started < 0.05  # three checks: microseconds each


def test_a_long_non_ascii_label_never_equals_an_a_label() -> None:
    label = "\u00fc" * 64  # longer than DNS allows: compared as it is, not encoded
    assert normalise_domain(f"{label}.example") == f"{label}.example"
    assert normalise_domain(f"{label}.EXAMPLE") == normalise_domain(f"{label}.example")
    assert normalise_domain("xn--" + label.encode("punycode").decode()) != label
    assert normalise_domain("b\u00fccher.example") == "xn--bcher-kva.example"
