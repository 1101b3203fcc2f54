"""URLs of the Django example."""

from django.contrib import admin
from django.urls import path

from examples.django.demo import views

urlpatterns = [
    path("", views.index, name="index"),
    path("api/me", views.me, name="me"),
    path("admins", views.admins, name="admins"),
    path("reports", views.Reports.as_view(), name="reports"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
