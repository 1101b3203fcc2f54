"""A small Django site for the django_pomerium tests: settings, urls, views, a 403 page.

:func:`configure` sets Django up once per process with ``settings.configure()`` (no
``DJANGO_SETTINGS_MODULE`` in the environment, so subprocesses and other test modules
see nothing of it); pytest-django then creates the test database on demand.
"""

from __future__ import annotations

import pathlib

HERE = pathlib.Path(__file__).resolve().parent

SETTINGS = {
    "SECRET_KEY": "django-pomerium-tests-only",
    "DEBUG": False,
    "ALLOWED_HOSTS": ["testserver", "app.example.com"],
    "INSTALLED_APPS": [
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django_pomerium",
    ],
    "MIDDLEWARE": [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django_pomerium.middleware.PomeriumMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    "AUTHENTICATION_BACKENDS": [
        "django.contrib.auth.backends.ModelBackend",
        "django_pomerium.backends.PomeriumBackend",
    ],
    "ROOT_URLCONF": "tests.adapters.django_site.urls",
    "TEMPLATES": [{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [str(HERE / "templates")],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            "django.template.context_processors.request",
            "django.contrib.auth.context_processors.auth",
            "django.contrib.messages.context_processors.messages",
        ]},
    }],
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    "USE_TZ": True,
    # Replaced per test with a FakePomerium's verifier; this one is never asked.
    "POMERIUM": {"AUDIENCE": "app.example.com",
                 "JWKS_URL": "http://127.0.0.1:9/.well-known/pomerium/jwks.json"},
}


def configure() -> None:
    """Configure Django with :data:`SETTINGS` (once; later calls do nothing)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(**SETTINGS)
        django.setup()
