"""Identity: the fast constructor the Verifier uses builds exactly what Identity() builds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
from types import MappingProxyType

import pytest

from pomerium_wsgi import Identity
from pomerium_wsgi.identity import build_identity

VALUES = {
    "subject": "sub-1",
    "email": "ada@example.com",
    "groups": ("staff", "admins"),
    "user": "sub-1",
    "name": "Ada",
    "session_id": "sid-1",
    "issuer": "app.example.com",
    "audience": ("app.example.com",),
    "issued_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    "expires_at": dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC),
    "token_id": "jti-1",
    "claims": MappingProxyType({"sub": "sub-1", "email": "ada@example.com"}),
    "token": "header.payload.signature",
}


def test_build_identity_takes_every_field_in_order() -> None:
    fields = [field.name for field in dataclasses.fields(Identity)]
    assert list(inspect.signature(build_identity).parameters) == fields == list(VALUES)


def test_build_identity_equals_the_dataclass_constructor() -> None:
    built = build_identity(*VALUES.values())
    made = Identity(**VALUES)  # type: ignore[arg-type]
    assert type(built) is Identity
    assert built == made and hash(built) == hash(made) and repr(built) == repr(made)
    for name, value in VALUES.items():
        assert getattr(built, name) is value, name  # compare=False fields too


@pytest.mark.parametrize("name", list(VALUES))
def test_built_identity_is_frozen(name: str) -> None:
    built = build_identity(*VALUES.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, name, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(built, name)


def test_built_identity_never_shows_the_token() -> None:
    built = build_identity(*VALUES.values())
    assert "header.payload.signature" not in repr(built) + str(built)
