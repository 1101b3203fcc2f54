"""WSGI entry point: ``examples.django.project.wsgi:application`` (gunicorn, ``dev``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django.project.settings")

application = get_wsgi_application()
