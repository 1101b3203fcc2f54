"""ASGI entry point: ``examples.django.project.asgi:application`` (uvicorn, ``dev``).

django_pomerium's middleware is async-capable: under ASGI it verifies on the event loop
and fetches keys in a worker thread, so the same settings serve both entry points.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django.project.settings")

application = get_asgi_application()
