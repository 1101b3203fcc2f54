#!/usr/bin/env python
"""Django's command-line utility for the example project (run from anywhere)."""

import os
import pathlib
import sys

if __name__ == "__main__":
    # The repository root, so that "examples.django.project" imports.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django.project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
