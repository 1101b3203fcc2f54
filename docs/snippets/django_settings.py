"""settings.py of a Django project behind Pomerium (the parts django_pomerium needs)."""

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_pomerium",  # registers the system checks
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_pomerium.middleware.PomeriumMiddleware",  # after AuthenticationMiddleware
    "django.contrib.messages.middleware.MessageMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "django_pomerium.backends.PomeriumBackend",
]

POMERIUM = {
    "AUDIENCE": "app.example.com",   # or leave it out and set POMERIUM_AUDIENCE
    "EXEMPT": ["/healthz"],
    "SYNC_GROUPS": ["admins", "editors"],
    "STAFF_GROUPS": ["admins"],      # members may use the Django admin
}
