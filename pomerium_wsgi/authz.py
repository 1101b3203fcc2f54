"""Authorization requirements over a verified identity.

A requirement is a small object with ``check(identity) -> bool`` and a readable ``str()``
(shown in 403 answers and logs). Requirements combine with ``&`` and ``|``::

    admins_or_ops = require_group("admins", "ops") & require_email_domain("example.com")

The adapters turn the same objects into decorators; :func:`protect` guards a whole WSGI
app. Authentication (is there a verified identity?) and authorization (does it meet the
requirement?) stay distinct: 401 versus 403.
"""

from __future__ import annotations

import logging
import typing as t

from .casefold import ascii_lower
from .errors import MissingToken
from .identity import Identity
from .middleware import get_error, get_identity
from .problem import problem
from .signals import access_denied, send_safely

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("pomerium_wsgi.authz")


def _quoted(values: t.Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


#: Where each framework's decorators live: a core requirement is not one.
DECORATORS = (
    "flask_pomerium.{name}(...)", "bottle_pomerium.{name}(...)",
    "django_pomerium.decorators.{name}(...)", "fastapi_pomerium.{name}(...) (a dependency)",
)


class Requirement:
    """Base class: subclasses implement :meth:`check` and ``__str__``."""

    #: The function that makes this kind of requirement, named in error messages.
    factory = "requires"

    def check(self, identity: Identity) -> bool:
        """True if *identity* meets the requirement."""
        raise NotImplementedError

    def __call__(self, identity: Identity | None) -> bool:
        """Like :meth:`check`, but False for no identity and for a check that raises.

        Anything but an :class:`~pomerium_wsgi.Identity` or None raises TypeError: a core
        requirement applied as a decorator (``@require_group("admins")`` above a view or
        a ``MethodView`` class) would otherwise replace the view with ``False``.
        """
        if identity is None:
            return False
        if not isinstance(identity, Identity):
            # A proxy standing for None (flask_pomerium.current_identity when anonymous)
            # reports NoneType as its class: it is an anonymous request, not a misuse.
            if isinstance(identity, type(None)):
                return False
            raise TypeError(self._misuse(identity))
        try:
            return bool(self.check(identity))
        except Exception:
            log.exception("requirement %s raised; access denied", self)
            return False

    def _misuse(self, target: object) -> str:
        what = (f"the class {target.__name__}" if isinstance(target, type) else
                f"the function {getattr(target, '__name__', '?')}" if callable(target) else
                f"a {type(target).__name__}")
        instead = ", ".join(d.format(name=self.factory) for d in DECORATORS)
        return (f"a pomerium_wsgi requirement ({self}) checks an Identity or None, not "
                f"{what}: to guard a view, use your framework's decorator instead: "
                f"{instead}")

    def __and__(self, other: Requirement) -> Requirement:
        if not isinstance(other, Requirement):
            return NotImplemented
        return AllOf(self, other)

    def __or__(self, other: Requirement) -> Requirement:
        if not isinstance(other, Requirement):
            return NotImplemented
        return AnyOf(self, other)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"


class Delegating(Requirement):
    """A requirement standing for another one: the base of the adapters' decorators.

    A framework adapter subclasses it to give ``__call__`` a second use (decorating a
    view); checking and ``str()`` are the wrapped requirement's, and the ``access_denied``
    signal carries :attr:`requirement`, never the wrapper. Wrapping a wrapper wraps what
    it stands for.
    """

    #: The requirement this one stands for (never itself a :class:`Delegating`).
    requirement: Requirement

    def __init__(self, requirement: Requirement) -> None:
        if not isinstance(requirement, Requirement):
            raise TypeError("requires() needs a Requirement, e.g. require_group('admins')")
        if isinstance(requirement, Delegating):
            requirement = requirement.requirement
        self.requirement = requirement

    def check(self, identity: Identity) -> bool:
        return self.requirement.check(identity)

    def __str__(self) -> str:
        return str(self.requirement)


class AllOf(Requirement):
    """Every one of the requirements."""

    requirements: tuple[Requirement, ...]

    def __init__(self, *requirements: Requirement) -> None:
        flat: list[Requirement] = []
        for r in requirements:
            flat.extend(r.requirements if isinstance(r, AllOf) else (r,))
        self.requirements = tuple(flat)

    def check(self, identity: Identity) -> bool:
        return all(r(identity) for r in self.requirements)

    def __str__(self) -> str:
        return "(" + " and ".join(str(r) for r in self.requirements) + ")"


class AnyOf(Requirement):
    """At least one of the requirements."""

    requirements: tuple[Requirement, ...]

    def __init__(self, *requirements: Requirement) -> None:
        flat: list[Requirement] = []
        for r in requirements:
            flat.extend(r.requirements if isinstance(r, AnyOf) else (r,))
        self.requirements = tuple(flat)

    def check(self, identity: Identity) -> bool:
        return any(r(identity) for r in self.requirements)

    def __str__(self) -> str:
        return "(" + " or ".join(str(r) for r in self.requirements) + ")"


def _names(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    if not values or not all(isinstance(v, str) and v for v in values):
        raise TypeError(f"{what} needs one or more non-empty strings")
    return values


class _Identity(Requirement):
    factory = "require_identity"

    def check(self, identity: Identity) -> bool:
        return True

    def __str__(self) -> str:
        return "a verified identity"


class _AnyGroup(Requirement):
    factory = "require_group"

    def __init__(self, groups: tuple[str, ...]) -> None:
        self.groups = _names(groups, "require_group")

    def check(self, identity: Identity) -> bool:
        return identity.in_group(*self.groups)

    def __str__(self) -> str:
        if len(self.groups) == 1:
            return f"membership of group {self.groups[0]!r}"
        return f"membership of any of the groups {_quoted(self.groups)}"


class _AllGroups(Requirement):
    factory = "require_all_groups"

    def __init__(self, groups: tuple[str, ...]) -> None:
        self.groups = _names(groups, "require_all_groups")

    def check(self, identity: Identity) -> bool:
        return identity.in_all_groups(*self.groups)

    def __str__(self) -> str:
        return f"membership of all of the groups {_quoted(self.groups)}"


#: The longest DNS label and name (RFC 1035); longer ones are not Punycode-encoded.
_MAX_LABEL = 63
_MAX_NAME = 253


def normalise_domain(domain: str) -> str:
    """A domain as compared by the requirements: ASCII case folded, labels in ASCII.

    A non-ASCII label becomes its IDNA A-label (``bücher`` -> ``xn--bcher-kva``) by plain
    Punycode, with no Unicode case or compatibility mapping, so that two distinct
    Unicode spellings never compare equal; a trailing dot is ignored.

    Punycode's cost grows with the square of a label's length (a 20,000-character label
    takes about a minute), and an address comes from a token. A label longer than DNS
    allows (63) or a name longer than 253 characters is no domain, so its non-ASCII
    labels are compared as they are, ASCII case folded: such a label still contains
    non-ASCII characters, so it never equals an A-label or any ASCII label.
    """
    name = domain.rstrip(".")
    encode = len(name) <= _MAX_NAME
    labels = []
    for label in name.split("."):
        if label.isascii() or not encode or len(label) > _MAX_LABEL:
            labels.append(ascii_lower(label))
        else:
            labels.append("xn--" + label.encode("punycode").decode("ascii"))
    return ".".join(labels)


def normalise_email(address: str) -> str:
    """An email address as compared by the requirements (and Pyramid's ``email:``).

    The local part is kept exactly, apart from ASCII case; the domain goes through
    :func:`normalise_domain`. An address without ``@`` is only ASCII-lower-cased.
    """
    local, at, domain = address.rpartition("@")
    if not at:
        return ascii_lower(address)
    return f"{ascii_lower(local)}@{normalise_domain(domain)}"


class _Email(Requirement):
    factory = "require_email"

    def __init__(self, emails: tuple[str, ...]) -> None:
        self.emails = frozenset(normalise_email(e) for e in _names(emails, "require_email"))
        self._shown = emails

    def check(self, identity: Identity) -> bool:
        return bool(identity.email) and normalise_email(identity.email) in self.emails

    def __str__(self) -> str:
        return f"the email address {_quoted(self._shown)}" if len(self._shown) == 1 else (
            f"one of the email addresses {_quoted(self._shown)}"
        )


class _EmailDomain(Requirement):
    factory = "require_email_domain"

    def __init__(self, domains: tuple[str, ...]) -> None:
        names = _names(domains, "require_email_domain")
        self.domains = frozenset(normalise_domain(d.lstrip("@")) for d in names)

    def check(self, identity: Identity) -> bool:
        local, at, domain = identity.email.rpartition("@")
        # Exact domain match: "evil-example.com" and "example.com.evil" do not pass.
        return bool(local and at and domain) and normalise_domain(domain) in self.domains

    def __str__(self) -> str:
        return f"an email address at {_quoted(sorted(self.domains))}"


class _Claim(Requirement):
    factory = "require_claim"

    def __init__(self, name: str, values: tuple[t.Any, ...]) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("require_claim needs a claim name")
        self.name = name
        self.predicate: t.Callable[[t.Any], bool] | None = None
        if len(values) == 1 and callable(values[0]):
            self.predicate = values[0]
            values = ()
        self.values = values

    def check(self, identity: Identity) -> bool:
        if self.name not in identity.claims:
            return False
        value = identity.claims[self.name]
        if self.predicate is not None:
            return bool(self.predicate(value))
        if not self.values:
            # Exactly JSON true: "false", "no", 1 or a non-empty list never pass by accident.
            return value is True
        if isinstance(value, list):
            return any(_hashable_in(item, self.values) for item in value)
        return _hashable_in(value, self.values)

    def __str__(self) -> str:
        if self.predicate is not None:
            label = getattr(self.predicate, "__name__", "a predicate")
            return f"claim {self.name!r} satisfying {label}"
        if not self.values:
            return f"claim {self.name!r} equal to true"
        return f"claim {self.name!r} in {_quoted(self.values)}"


def _hashable_in(value: t.Any, values: tuple[t.Any, ...]) -> bool:
    # bool is an int subclass: keep True from matching 1 and False from matching 0.
    return any(type(value) is type(v) and value == v for v in values)


def require_identity() -> Requirement:
    """Any verified identity."""
    return _Identity()


def require_group(*groups: str) -> Requirement:
    """Membership of *any* of the groups."""
    return _AnyGroup(groups)


def require_all_groups(*groups: str) -> Requirement:
    """Membership of *every* one of the groups."""
    return _AllGroups(groups)


def require_email(*emails: str) -> Requirement:
    """One of the email addresses: the local part exactly apart from ASCII case, the
    domain ASCII case-insensitively (see :func:`normalise_email`)."""
    return _Email(emails)


def require_email_domain(*domains: str) -> Requirement:
    """An email address at exactly one of the domains (``"example.com"``), compared
    ASCII case-insensitively, IDNs as A-labels (see :func:`normalise_domain`)."""
    return _EmailDomain(domains)


def require_claim(name: str, *values_or_predicate: t.Any) -> Requirement:
    """Claim *name* equal to one of the values (any element, for a list claim); or a
    single callable predicate over the value; or, with neither, present and exactly
    ``true`` (a JSON boolean).

    Values compare by type as well as value: ``require_claim("email_verified")`` passes
    ``true`` but not the string ``"true"``, and never ``"false"`` (IdPs such as Cognito
    send some flags as strings); for a string flag write ``require_claim(name, "true")``.
    """
    return _Claim(name, values_or_predicate)


def protect(
    app: WSGIApplication, requirement: Requirement, *, sender: object = None
) -> WSGIApplication:
    """Wrap *app* so that it runs only for identities meeting *requirement*.

    Goes inside :class:`~pomerium_wsgi.PomeriumMiddleware` (usually in optional mode):
    401 when there is no verified identity, 403 (and the ``access_denied`` signal) when
    the identity does not meet the requirement.
    """
    if not isinstance(requirement, Requirement):
        raise TypeError("protect() needs a Requirement, e.g. require_group('admins')")

    def protected(environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        identity = get_identity(environ)
        if identity is None:
            error = get_error(environ) or MissingToken()
            extra = [("Retry-After", "5")] if error.status == 503 else []
            return problem(environ, start_response, error.status, error.reason, error.message,
                           extra)
        if not requirement(identity):
            send_safely(access_denied, protected if sender is None else sender,
                        identity=identity, requirement=requirement, environ=environ)
            return problem(environ, start_response, 403, "forbidden",
                           f"access requires {requirement}")
        return app(environ, start_response)

    protected.requirement = requirement  # type: ignore[attr-defined]
    return protected
