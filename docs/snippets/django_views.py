"""Guarded views: decorators for functions, a mixin for classes."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.generic import View

from django_pomerium import (
    PomeriumRequiredMixin,
    require_email_domain,
    require_group,
    require_identity,
    requires,
)


@require_identity
def me(request: HttpRequest) -> JsonResponse:
    identity = request.pomerium_identity
    return JsonResponse({"email": identity.email, "user": request.user.get_username()})


@require_group("admins")
def admin_tools(request: HttpRequest) -> HttpResponse:
    return HttpResponse("admin tools")


@requires(require_group("editors") | require_email_domain("example.com"))
async def drafts(request: HttpRequest) -> HttpResponse:
    return HttpResponse("drafts")


class ReportsView(PomeriumRequiredMixin, View):
    pomerium_requirement = require_group("admins") & require_email_domain("example.com")

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("reports")


urlpatterns = [
    path("me", me),
    path("tools", admin_tools),
    path("drafts", drafts),
    path("reports", ReportsView.as_view()),
]
