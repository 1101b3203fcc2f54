"""Authentication backend: a verified Pomerium identity -> a Django user.

The middleware calls :meth:`PomeriumBackend.authenticate` once per verified request; the
result is ``request.user`` for that request only (no session login). The hot path is a
known user whose groups and flags already match the token: one query (the user, with
its group names joined in), no write. Changes are written only when something changed.

Like Django's ``RemoteUserBackend``: ``get_or_create`` for a new user (when
``CREATE_USERS``), per-login work in :meth:`configure_user` (safe to repeat), ``None`` for
an identity it will not map (no username claim, unknown user without ``CREATE_USERS``, an
inactive user); it raises only on misconfiguration. It subclasses ``ModelBackend`` for
permissions (so synced groups carry their permissions into the admin), but its
``authenticate`` takes only an identity, so it never checks a password.
"""

from __future__ import annotations

import functools
import logging
import typing as t

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest

from pomerium_wsgi import Identity

from .conf import PomeriumSettings, get_settings

log = logging.getLogger("django_pomerium.backends")

#: The attribute of a fetched user holding the names of its groups (from the same query).
GROUP_NAMES_ATTRIBUTE = "_pomerium_group_names"
_GROUP_ANNOTATION = "pomerium_group_name"


class PomeriumBackend(ModelBackend):  # type: ignore[misc]
    """Map a verified :class:`~pomerium_wsgi.Identity` to a user (see ``settings.POMERIUM``
    ``USERNAME_CLAIM``, ``CREATE_USERS``, ``SYNC_GROUPS``, ``STAFF_GROUPS``,
    ``SUPERUSER_GROUPS``). Override the ``get_*`` methods or :meth:`clean_username` to
    change a rule for one project."""

    def authenticate(self, request: HttpRequest | None, identity: Identity | None = None
                     ) -> t.Any:
        """The user for *identity*, or None if it will not be mapped."""
        if not isinstance(identity, Identity):
            return None
        conf = get_settings()
        username = self.get_username(identity, conf)
        if not username:
            return None
        user, created = self.get_user_for(username, identity, conf)
        if user is None:
            return None
        user = self.configure_user(request, user, created=created, identity=identity)
        return user if self.user_can_authenticate(user) else None

    def get_username(self, identity: Identity, conf: PomeriumSettings | None = None
                     ) -> str | None:
        """The username: the ``USERNAME_CLAIM`` claim (default ``email``), cleaned."""
        conf = conf or get_settings()
        value = identity.claims.get(conf.username_claim)
        if not isinstance(value, str) or not value:
            return None
        username = self.clean_username(value)
        # A value the username field cannot store would fail in the database (a 500 on
        # databases that enforce lengths): such an identity is not mapped.
        if not username or len(username) > _username_limit() or "\x00" in username:
            log.warning("the %r claim does not fit the username field; user not mapped",
                        conf.username_claim)
            return None
        return username

    def clean_username(self, username: str) -> str:
        """Hook: normalise the claim's value (e.g. lower-case it). Unchanged by default."""
        return username

    def get_user_defaults(self, identity: Identity) -> dict[str, t.Any]:
        """Field values of a user created for *identity*: an unusable password (the token
        is the only way in) and the email address when the model has an ``email`` field."""
        model = get_user_model()
        defaults: dict[str, t.Any] = {"password": make_password(None)}
        try:
            field = model._meta.get_field("email")
        except FieldDoesNotExist:
            return defaults
        email = identity.email
        # An address the field cannot store (over its length, or with a NUL) would fail
        # in the database on PostgreSQL: a 500 instead of a user. It is left out.
        if model.USERNAME_FIELD != "email" and email and "\x00" not in email and (
            len(email) <= (getattr(field, "max_length", None) or len(email))
        ):
            defaults["email"] = email
        return defaults

    def get_user_for(self, username: str, identity: Identity, conf: PomeriumSettings
                     ) -> tuple[t.Any, bool]:
        """``(user, created)``; ``(None, False)`` for an unknown user without
        ``CREATE_USERS``. With ``SYNC_GROUPS`` the group names come in the same query."""
        model = get_user_model()
        manager = model._default_manager
        lookup = {model.USERNAME_FIELD: username}
        if conf.sync_groups:
            _check_field(model, "groups", "SYNC_GROUPS")
            rows = list(manager.filter(**lookup).annotate(
                **{_GROUP_ANNOTATION: F("groups__name")}))
            if rows:
                user = rows[0]
                setattr(user, GROUP_NAMES_ATTRIBUTE, frozenset(
                    name for row in rows
                    if (name := getattr(row, _GROUP_ANNOTATION)) is not None))
                return user, False
        else:
            try:
                return manager.get(**lookup), False
            except model.DoesNotExist:
                pass
        if not conf.create_users:
            return None, False
        user, created = manager.get_or_create(**lookup, defaults=self.get_user_defaults(identity))
        return user, created

    def configure_user(self, request: HttpRequest | None, user: t.Any, created: bool = True,
                       *, identity: Identity | None = None) -> t.Any:
        """Bring *user* in line with the token: ``is_staff`` / ``is_superuser`` from
        ``STAFF_GROUPS`` / ``SUPERUSER_GROUPS``, groups from ``SYNC_GROUPS``. Safe to
        repeat; writes nothing when nothing changed. *identity* defaults to
        ``request.pomerium_identity``."""
        if identity is None:
            identity = getattr(request, "pomerium_identity", None)
        if identity is None:
            return user
        conf = get_settings()
        if conf.staff_groups is not None or conf.superuser_groups is not None:
            changed = self.sync_flags(user, identity, conf)
            if changed:
                user.save(update_fields=changed)
        if conf.sync_groups:
            self.sync_groups(user, identity, conf.sync_groups)
        return user

    def sync_flags(self, user: t.Any, identity: Identity, conf: PomeriumSettings
                   ) -> list[str]:
        """Set ``is_superuser`` (members of ``SUPERUSER_GROUPS``) and ``is_staff``
        (members of ``STAFF_GROUPS`` or ``SUPERUSER_GROUPS``: the admin needs both for a
        superuser); each only when its setting is given. The names of changed fields."""
        changed = []
        superuser = bool(conf.superuser_groups) and identity.in_group(
            *(conf.superuser_groups or ()))
        if conf.superuser_groups is not None:
            _check_field(type(user), "is_superuser", "SUPERUSER_GROUPS")
            if user.is_superuser != superuser:
                user.is_superuser = superuser
                changed.append("is_superuser")
        if conf.staff_groups is not None:
            _check_field(type(user), "is_staff", "STAFF_GROUPS")
            staff = superuser or (bool(conf.staff_groups)
                                  and identity.in_group(*conf.staff_groups))
            if user.is_staff != staff:
                user.is_staff = staff
                changed.append("is_staff")
        return changed

    def sync_groups(self, user: t.Any, identity: Identity, sync: bool | tuple[str, ...]
                    ) -> None:
        """Make *user*'s managed groups the token's: all groups when *sync* is True, only
        the named ones otherwise (groups outside the list are left alone). Groups are
        created on first sight."""
        if sync is False:
            return
        current = getattr(user, GROUP_NAMES_ATTRIBUTE, None)
        if current is None:
            current = frozenset(user.groups.values_list("name", flat=True))
        token = frozenset(identity.groups)
        limit = _name_limit()
        if max(map(len, token), default=0) > limit or any("\x00" in name for name in token):
            # Names the group model cannot store (too long, or with a NUL, which PostgreSQL
            # refuses: a 500) are not synced, as for the username.
            token = frozenset(name for name in token if len(name) <= limit and "\x00" not in name)
        managed = None if isinstance(sync, bool) else frozenset(sync)
        wanted = token if managed is None else token & managed
        remove = (current if managed is None else current & managed) - wanted
        add = wanted - current
        if not add and not remove:
            return
        group_model = user.groups.model
        with transaction.atomic():
            if add:
                existing = set(group_model._default_manager.filter(name__in=add)
                               .values_list("name", flat=True))
                group_model._default_manager.bulk_create(
                    [group_model(name=name) for name in sorted(add - existing)],
                    ignore_conflicts=True)
                user.groups.add(*group_model._default_manager.filter(name__in=add))
            if remove:
                user.groups.remove(*group_model._default_manager.filter(name__in=remove))
        setattr(user, GROUP_NAMES_ATTRIBUTE, (current - remove) | add)


@functools.cache
def _username_limit() -> int:
    """The longest username the user model stores (read once: it never changes)."""
    model = get_user_model()
    return int(model._meta.get_field(model.USERNAME_FIELD).max_length or 2**31)


@functools.cache
def _name_limit() -> int:
    """The longest group name the group model stores (read once: it never changes)."""
    model = get_user_model()._meta.get_field("groups").related_model
    return int(model._meta.get_field("name").max_length or 150)


def _check_field(model: t.Any, field: str, setting: str) -> None:
    if not hasattr(model, field):
        raise ImproperlyConfigured(
            f"POMERIUM[{setting!r}] needs a user model with a {field!r} field, and "
            f"{model.__name__} has none: remove the setting or add the field "
            "(django.contrib.auth.models.PermissionsMixin provides groups and is_superuser)")
