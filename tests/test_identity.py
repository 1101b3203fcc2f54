"""Identity: a frozen dataclass with a one-step constructor and datetimes made when read."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
from types import MappingProxyType

import pytest

from pomerium_wsgi import Identity

IAT, EXP = 1_800_000_000, 1_800_000_300
VALUES = {
    "subject": "sub-1",
    "email": "ada@example.com",
    "groups": ("staff", "admins"),
    "user": "sub-1",
    "name": "Ada",
    "session_id": "sid-1",
    "issuer": "app.example.com",
    "audience": ("app.example.com",),
    "issued_at": dt.datetime.fromtimestamp(IAT, dt.UTC),
    "expires_at": dt.datetime.fromtimestamp(EXP, dt.UTC),
    "token_id": "jti-1",
    "claims": MappingProxyType({"sub": "sub-1", "iat": IAT, "exp": EXP}),
    "token": "header.payload.signature",
}
DERIVED = {**VALUES, "issued_at": None, "expires_at": None}


def test_constructor_takes_every_field_in_order() -> None:
    fields = [field.name for field in dataclasses.fields(Identity)]
    assert list(inspect.signature(Identity).parameters) == fields == list(VALUES)
    assert dataclasses.is_dataclass(Identity)


@pytest.mark.parametrize("how", ["positional", "keywords"])
def test_constructor_stores_every_field(how: str) -> None:
    identity = (Identity(*VALUES.values()) if how == "positional"  # type: ignore[arg-type]
                else Identity(**VALUES))  # type: ignore[arg-type]
    for name, value in VALUES.items():
        assert getattr(identity, name) is value, name


def test_datetimes_left_out_are_made_from_iat_and_exp_when_read() -> None:
    derived = Identity(**DERIVED)  # type: ignore[arg-type]
    given = Identity(**VALUES)  # type: ignore[arg-type]
    assert "issued_at" not in vars(derived)  # nothing made until asked for
    assert derived.issued_at == VALUES["issued_at"] and derived.issued_at.tzinfo is dt.UTC
    assert derived.expires_at == VALUES["expires_at"]
    assert derived.issued_at is derived.issued_at  # made once, then kept
    assert derived == given and hash(derived) == hash(given) and repr(derived) == repr(given)


def test_equal_identities_compare_and_hash_alike_before_any_read() -> None:
    one, two = Identity(**DERIVED), Identity(**DERIVED)  # type: ignore[arg-type]
    assert one == two and hash(one) == hash(two)
    assert one != dataclasses.replace(one, email="bob@example.com")


def test_replace_keeps_the_datetimes() -> None:
    changed = dataclasses.replace(Identity(**DERIVED), email="bob@example.com")  # type: ignore[arg-type]
    assert changed.email == "bob@example.com"
    assert changed.issued_at == VALUES["issued_at"]


@pytest.mark.parametrize("missing", ["iat", "exp"])
def test_a_datetime_with_nothing_to_derive_it_from_is_refused(missing: str) -> None:
    claims = {k: v for k, v in VALUES["claims"].items() if k != missing}  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match=missing):
        Identity(**{**DERIVED, "claims": MappingProxyType(claims)})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(VALUES))
@pytest.mark.parametrize("values", [VALUES, DERIVED], ids=["given", "derived"])
def test_identity_is_frozen(name: str, values: dict[str, object]) -> None:
    identity = Identity(**values)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(identity, name, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(identity, name)


def test_identity_never_shows_the_token() -> None:
    identity = Identity(**DERIVED)  # type: ignore[arg-type]
    assert "header.payload.signature" not in repr(identity) + str(identity)
