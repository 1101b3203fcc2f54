"""``python -m pomerium_wsgi``: the ``pomerium-wsgi`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
