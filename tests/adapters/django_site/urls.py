"""URLs of the test site: plain, guarded (decorators, mixin; sync and async) and admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("whoami", views.whoami),
    path("healthz", views.whoami),
    path("async/whoami", views.async_whoami),
    path("admins", views.admins_only),
    path("async/admins", views.async_admins_only),
    path("staff-or-ada", views.staff_or_ada),
    path("cbv/admins", views.AdminsView.as_view()),
    path("cbv/async-admins", views.AsyncAdminsView.as_view()),
    path("cbv/any", views.AnyIdentityView.as_view()),
    path("identity-required", views.identity_required),
    path("login-in-session", views.login_in_session),
]
