"""Settings of the Django example: django_pomerium in front of every view.

The audience and the JWKS URL are not written here: django_pomerium reads them from
``POMERIUM_AUDIENCE`` / ``POMERIUM_JWKS_URL`` (which ``pomerium-wsgi dev`` exports, and a
deployment sets), because ``POMERIUM`` below leaves them out.
"""

import os
import pathlib

BASE_DIR = pathlib.Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get(
    "DJANGO_ALLOWED_HOSTS", "app.example.com,localhost,127.0.0.1,[::1]").split(",")
# The admin's forms POST through Pomerium over HTTPS: Django's CSRF check wants the origin.
CSRF_TRUSTED_ORIGINS = os.environ.get(
    "DJANGO_CSRF_TRUSTED_ORIGINS", "https://app.example.com").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_pomerium",  # system checks: manage.py check
    "examples.django.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Right after AuthenticationMiddleware: request.user is the token's user, or anonymous.
    "django_pomerium.middleware.PomeriumMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

AUTHENTICATION_BACKENDS = ["django_pomerium.backends.PomeriumBackend"]

POMERIUM = {
    "EXEMPT": ["/healthz"],          # health checks reach the app without Pomerium
    "SYNC_GROUPS": True,             # Django groups mirror the token's groups
    "STAFF_GROUPS": ["admins"],      # members of "admins" may use the Django admin
}

ROOT_URLCONF = "examples.django.project.urls"
WSGI_APPLICATION = "examples.django.project.wsgi.application"

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ.get("DJANGO_EXAMPLE_DB", str(BASE_DIR / "db.sqlite3")),
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # propagate False: a root handler (pomerium-wsgi dev adds one, so do many servers'
    # logging setups) would print every audit line a second time.
    "loggers": {"audit": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
