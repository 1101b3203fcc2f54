"""The demo app: installs the audit log when Django is ready."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "examples.django.demo"
    label = "demo"

    def ready(self) -> None:
        from . import audit

        audit.install()
