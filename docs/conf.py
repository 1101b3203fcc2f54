"""Sphinx configuration for the pomerium-wsgi documentation (furo theme, MyST Markdown).

Build it with warnings as errors, as the test suite does:
``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The adapters are installed from adapters/ (see setup.cfg package_dir); put them and the
# core on the path so autodoc also works from a plain checkout.
sys.path[:0] = [str(ROOT), str(ROOT / "adapters")]

# The Django adapter's modules import Django's auth models, which need configured
# settings: a minimal configuration (below), enough for autodoc to import them.
import django  # noqa: E402
from django.conf import settings as django_settings  # noqa: E402

import pomerium_wsgi  # noqa: E402 - needs the path above

if not django_settings.configured:
    django_settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django_pomerium"],
        POMERIUM={"AUDIENCE": "app.example.com"},
    )
    django.setup()

project = "pomerium-wsgi"
author = "the pomerium-wsgi authors"
copyright = "the pomerium-wsgi authors"
release = pomerium_wsgi.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "snippets", "requirements.txt"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"pomerium-wsgi {release}"
