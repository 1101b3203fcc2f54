"""Django is configured here, before any test module of this package is imported (the
test_django_* modules import models); the other adapters' tests do not use it."""

from tests.adapters.django_site import configure

configure()
