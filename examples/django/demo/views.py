"""Views of the Django example: a page, a JSON API, guarded views, a health check."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.generic import TemplateView

from django_pomerium import (
    PomeriumRequiredMixin,
    require_email_domain,
    require_group,
)


def index(request: HttpRequest) -> HttpResponse:
    """Every request here carries a verified identity (the middleware refuses others)."""
    return render(request, "demo/index.html", {"identity": request.pomerium_identity})


def me(request: HttpRequest) -> JsonResponse:
    identity = request.pomerium_identity
    return JsonResponse({"email": identity.email, "groups": list(identity.groups),
                         "user": request.user.get_username(),
                         "staff": request.user.is_staff})


@require_group("admins")
def admins(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/admins.html")


class Reports(PomeriumRequiredMixin, TemplateView):
    """Admins and auditors, or anyone at example.com."""

    pomerium_requirement = require_group("admins", "auditors") | require_email_domain(
        "example.com")
    template_name = "demo/reports.html"


def healthz(request: HttpRequest) -> HttpResponse:
    """Exempt (POMERIUM["EXEMPT"]): no token needed, and no identity."""
    return HttpResponse("ok", content_type="text/plain")
