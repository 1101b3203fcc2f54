"""django_pomerium.backends: identity -> user on a real SQLite database; the one-query hot
path; group and staff synchronisation; the admin for a synced staff user."""

from __future__ import annotations

import typing as t

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from django_pomerium.backends import PomeriumBackend
from pomerium_wsgi import Identity
from pomerium_wsgi.testing import FakePomerium

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(settings: t.Any, fake: FakePomerium) -> t.Callable[..., None]:
    def configure(**extra: t.Any) -> None:
        settings.POMERIUM = {"VERIFIER": fake.verifier(), **extra}

    configure()
    return configure


def identity(fake: FakePomerium, email: str = "ada@example.com",
             groups: t.Sequence[str] = (), **claims: t.Any) -> Identity:
    return fake.verifier().verify(fake.token(email, list(groups), **claims))


def group_names(user: t.Any) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_new_user_is_created_with_unusable_password(site: t.Any, fake: FakePomerium) -> None:
    user = PomeriumBackend().authenticate(None, identity=identity(fake))
    assert user is not None and user.username == "ada@example.com"
    assert user.email == "ada@example.com"
    assert not user.has_usable_password()
    assert get_user_model().objects.count() == 1


def test_known_user_is_found_not_duplicated(site: t.Any, fake: FakePomerium) -> None:
    existing = get_user_model().objects.create_user("ada@example.com")
    assert PomeriumBackend().authenticate(None, identity=identity(fake)) == existing
    assert get_user_model().objects.count() == 1


def test_create_users_false_maps_only_existing(site: t.Any, fake: FakePomerium) -> None:
    site(CREATE_USERS=False)
    assert PomeriumBackend().authenticate(None, identity=identity(fake)) is None
    get_user_model().objects.create_user("ada@example.com")
    assert PomeriumBackend().authenticate(None, identity=identity(fake)) is not None


@pytest.mark.parametrize(("claim", "expected"), [
    pytest.param("email", "ada@example.com", id="email"),
    pytest.param("user", "u-42", id="user"),
    pytest.param("nickname", None, id="claim-absent"),
])
def test_username_claim(site: t.Any, fake: FakePomerium, claim: str,
                        expected: str | None) -> None:
    site(USERNAME_CLAIM=claim)
    user = PomeriumBackend().authenticate(None, identity=identity(fake, user="u-42", sub="u-42"))
    assert (user.username if user else None) == expected


@pytest.mark.parametrize("email", [
    pytest.param("a" * 250 + "@example.com", id="too-long"),
    pytest.param("nul\x00@example.com", id="nul"),
])
def test_an_email_the_user_model_cannot_store_is_left_out(site: t.Any, fake: FakePomerium,
                                                          email: str) -> None:
    # Usernames from another claim: the address still went into the email field, which
    # PostgreSQL refuses (over 254 characters, or a NUL): a 500 instead of a user.
    site(USERNAME_CLAIM="user")
    user = PomeriumBackend().authenticate(None, identity=identity(fake, email, user="u-42"))
    assert user is not None and (user.username, user.email) == ("u-42", "")


@pytest.mark.parametrize("email", [
    pytest.param("a" * 140 + "@example.com", id="too-long"),
    pytest.param("nul\x00@example.com", id="nul"),
])
def test_username_that_does_not_fit_is_not_mapped(site: t.Any, fake: FakePomerium,
                                                  email: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    assert PomeriumBackend().authenticate(None, identity=identity(fake, email)) is None
    assert not get_user_model().objects.exists()
    assert "not mapped" in caplog.text and email not in caplog.text


def test_over_long_username_through_the_middleware_is_anonymous(site: t.Any,
                                                               fake: FakePomerium) -> None:
    token = fake.token("a" * 140 + "@example.com")
    response = Client().get("/whoami", HTTP_X_POMERIUM_JWT_ASSERTION=token)
    assert response.status_code == 200 and response.json()["user"] is None


@pytest.mark.parametrize("what", [pytest.param(None, id="none"),
                                  pytest.param("ada@example.com", id="string")])
def test_not_an_identity_is_not_mapped(site: t.Any, what: t.Any) -> None:
    assert PomeriumBackend().authenticate(None, identity=what) is None


def test_inactive_user_is_not_mapped(site: t.Any, fake: FakePomerium) -> None:
    get_user_model().objects.create_user("ada@example.com", is_active=False)
    assert PomeriumBackend().authenticate(None, identity=identity(fake)) is None


def test_password_credentials_are_not_this_backends(site: t.Any) -> None:
    from django.contrib.auth import authenticate

    get_user_model().objects.create_user("ada@example.com", password="pw")
    with pytest.raises(TypeError):
        PomeriumBackend().authenticate(None, username="ada@example.com", password="pw")
    # Through Django, only ModelBackend takes passwords.
    user = authenticate(None, username="ada@example.com", password="pw")
    assert user is not None and user.backend == "django.contrib.auth.backends.ModelBackend"


def test_sync_all_groups(site: t.Any, fake: FakePomerium) -> None:
    site(SYNC_GROUPS=True)
    backend = PomeriumBackend()
    user = backend.authenticate(None, identity=identity(fake, groups=["admins", "ops"]))
    assert group_names(user) == {"admins", "ops"}
    user = backend.authenticate(None, identity=identity(fake, groups=["ops", "dev"]))
    assert group_names(user) == {"ops", "dev"}
    user = backend.authenticate(None, identity=identity(fake, groups=[]))
    assert group_names(user) == set()
    assert set(Group.objects.values_list("name", flat=True)) == {"admins", "ops", "dev"}


def test_group_names_the_database_cannot_store_are_not_synced(site: t.Any,
                                                              fake: FakePomerium) -> None:
    # PostgreSQL refuses a NUL in text (a DataError: a 500 for that user's every request);
    # such names are skipped like over-long ones, and the others still sync.
    site(SYNC_GROUPS=True)
    user = PomeriumBackend().authenticate(None, identity=identity(
        fake, groups=["ops", "adm\x00ins", "x" * 151]))
    assert group_names(user) == {"ops"}
    assert set(Group.objects.values_list("name", flat=True)) == {"ops"}


def test_sync_listed_groups_leaves_others_alone(site: t.Any, fake: FakePomerium) -> None:
    site(SYNC_GROUPS=["admins", "ops"])
    user = get_user_model().objects.create_user("ada@example.com")
    user.groups.add(Group.objects.create(name="local"), Group.objects.create(name="ops"))
    user = PomeriumBackend().authenticate(None, identity=identity(fake,
                                                                  groups=["admins", "other"]))
    assert group_names(user) == {"local", "admins"}
    assert not Group.objects.filter(name="other").exists()


def test_configure_user_is_safe_to_repeat(site: t.Any, fake: FakePomerium) -> None:
    site(SYNC_GROUPS=True, STAFF_GROUPS=["staff"])
    backend = PomeriumBackend()
    ident = identity(fake, groups=["staff", "ops"])
    user = backend.authenticate(None, identity=ident)
    for _ in range(2):
        user = backend.configure_user(None, user, created=False, identity=ident)
    assert group_names(user) == {"staff", "ops"} and user.is_staff


@pytest.mark.parametrize("sync", [pytest.param(False, id="no-sync"),
                                  pytest.param(True, id="sync-all"),
                                  pytest.param(["admins"], id="sync-list")])
def test_known_user_without_changes_costs_one_query(
        site: t.Any, fake: FakePomerium, django_assert_num_queries: t.Any,
        sync: t.Any) -> None:
    site(SYNC_GROUPS=sync, STAFF_GROUPS=["admins"], SUPERUSER_GROUPS=["root"])
    backend = PomeriumBackend()
    ident = identity(fake, groups=["admins", "ops"])
    backend.authenticate(None, identity=ident)  # first sight: creates and syncs
    with django_assert_num_queries(1):
        user = backend.authenticate(None, identity=ident)
    assert user.is_staff and not user.is_superuser


def test_hot_path_through_the_middleware_is_one_query(
        site: t.Any, fake: FakePomerium, django_assert_num_queries: t.Any) -> None:
    site(SYNC_GROUPS=True, STAFF_GROUPS=["staff"])
    client = Client()
    client.get("/whoami", **{"HTTP_X_POMERIUM_JWT_ASSERTION": fake.token(groups=["staff"])})
    token = fake.token(groups=["staff"])
    with django_assert_num_queries(1):
        response = client.get("/whoami", HTTP_X_POMERIUM_JWT_ASSERTION=token)
    assert response.json()["staff"] is True


def test_changes_are_written_only_when_something_changed(
        site: t.Any, fake: FakePomerium) -> None:
    site(STAFF_GROUPS=["staff"], SUPERUSER_GROUPS=["root"])
    backend = PomeriumBackend()
    user = backend.authenticate(None, identity=identity(fake, groups=["root"]))
    assert user.is_staff and user.is_superuser
    user = backend.authenticate(None, identity=identity(fake, groups=[]))
    assert not user.is_staff and not user.is_superuser
    user.refresh_from_db()
    assert not user.is_staff and not user.is_superuser


def test_sync_groups_needs_a_groups_field(site: t.Any, fake: FakePomerium) -> None:
    from django_pomerium.backends import _check_field

    class NoGroups:
        pass

    with pytest.raises(ImproperlyConfigured, match="groups"):
        _check_field(NoGroups, "groups", "SYNC_GROUPS")


@pytest.mark.parametrize(("groups", "status"), [
    pytest.param(["staff"], 200, id="staff-group"),
    pytest.param(["ops"], 302, id="not-staff"),
])
def test_admin_for_a_synced_staff_user(site: t.Any, fake: FakePomerium, groups: list[str],
                                       status: int) -> None:
    site(STAFF_GROUPS=["staff"], SYNC_GROUPS=True)
    response = Client().get("/admin/", HTTP_X_POMERIUM_JWT_ASSERTION=fake.token(
        "ada@example.com", groups))
    assert response.status_code == status
    if status == 200:
        assert b"Site administration" in response.content
    else:
        assert response["Location"].startswith("/admin/login/")


def test_admin_permissions_come_from_synced_groups(site: t.Any, fake: FakePomerium) -> None:
    from django.contrib.auth.models import Permission

    site(STAFF_GROUPS=["staff"], SYNC_GROUPS=True)
    editors = Group.objects.create(name="editors")
    editors.permissions.add(Permission.objects.get(codename="view_group"))
    client = Client()
    response = client.get("/admin/auth/group/", HTTP_X_POMERIUM_JWT_ASSERTION=fake.token(
        "ada@example.com", ["staff", "editors"]))
    assert response.status_code == 200
    response = client.get("/admin/auth/group/", HTTP_X_POMERIUM_JWT_ASSERTION=fake.token(
        "ada@example.com", ["staff"]))
    assert response.status_code == 403


def test_admin_form_post_with_csrf_for_a_token_superuser(site: t.Any,
                                                          fake: FakePomerium) -> None:
    import re

    site(STAFF_GROUPS=["staff"], SUPERUSER_GROUPS=["root"])
    client = Client(enforce_csrf_checks=True)

    def token() -> str:
        return fake.token("ada@example.com", ["root"])

    form = client.get("/admin/auth/group/add/", HTTP_X_POMERIUM_JWT_ASSERTION=token())
    assert form.status_code == 200
    csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.content)
    assert csrf is not None
    response = client.post("/admin/auth/group/add/",
                           {"name": "auditors", "csrfmiddlewaretoken": csrf.group(1).decode()},
                           HTTP_X_POMERIUM_JWT_ASSERTION=token())
    assert response.status_code == 302
    assert Group.objects.filter(name="auditors").exists()
    assert "sessionid" not in client.cookies  # no session was started
