"""The pytest plugin of pomerium-wsgi: a ``pomerium`` fixture, and nothing else.

Installed with pomerium-wsgi through pytest's ``pytest11`` entry point, so any test can
ask for ``pomerium`` without a line of conftest. pytest loads an installed plugin in
every run of every project in the environment, so this one is built to go unnoticed by
projects that do not use it:

* it defines one fixture and registers no hooks: nothing about collection, reporting,
  options or warnings changes;
* it imports nothing of pomerium-wsgi until a test asks for the fixture (the core and
  its cryptography would double pytest's start-up time);
* a project's own ``pomerium`` fixture wins over it (a conftest fixture overrides a
  plugin's), and ``-p no:pytest_pomerium_wsgi`` turns it off.

The entry point is named after this module, so a conftest that still lists it (or
``pomerium_wsgi.testing``, which re-exports the fixture) in ``pytest_plugins`` is no
conflict.
"""

from __future__ import annotations

import typing as t

import pytest

if t.TYPE_CHECKING:  # pragma: no cover
    from pomerium_wsgi.testing import FakePomerium


@pytest.fixture
def pomerium() -> FakePomerium:
    """A fresh :class:`~pomerium_wsgi.testing.FakePomerium` for ``app.example.com``
    (ES256): real keys, tokens of exactly Pomerium's shape, ``.serve()`` for a JWKS
    server on 127.0.0.1."""
    from pomerium_wsgi.testing import FakePomerium

    return FakePomerium()
