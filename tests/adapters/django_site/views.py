"""Views of the test site; each answers JSON describing what the request saw."""

from __future__ import annotations

import typing as t

from django.contrib.auth import login
from django.http import HttpRequest, JsonResponse
from django.views import View

from django_pomerium import (
    PomeriumRequiredMixin,
    require_email,
    require_group,
    require_identity,
    requires,
)


def describe(request: HttpRequest) -> dict[str, t.Any]:
    identity = request.pomerium_identity  # type: ignore[attr-defined]
    user = request.user
    return {
        "identity": identity.email if identity else None,
        "user": user.get_username() if user.is_authenticated else None,
        "staff": bool(getattr(user, "is_staff", False)),
        "claim_headers": sorted(k for k in request.META if "POMERIUM_CLAIM" in k),
        "header_names": sorted(k for k in request.headers if "claim" in k.lower()),
    }


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


async def async_whoami(request: HttpRequest) -> JsonResponse:
    user = await request.auser()  # type: ignore[attr-defined]
    body = describe(request)
    body["auser"] = user.get_username() if user.is_authenticated else None
    return JsonResponse(body)


@require_group("admins")
def admins_only(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


@require_group("admins")
async def async_admins_only(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


@requires(require_group("staff") | require_email("ada@example.com"))
def staff_or_ada(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


@require_identity
def identity_required(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


def login_in_session(request: HttpRequest) -> JsonResponse:
    """Log the request's user into the session (what RemoteUserMiddleware would do)."""
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.get(username="session@example.com")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse({"logged_in": user.get_username()})


class AdminsView(PomeriumRequiredMixin, View):
    pomerium_requirement = require_group("admins")

    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(describe(request))


class AsyncAdminsView(PomeriumRequiredMixin, View):
    pomerium_requirement = require_group("admins")

    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(describe(request))


class AnyIdentityView(PomeriumRequiredMixin, View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(describe(request))
