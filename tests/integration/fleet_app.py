"""The plain-WSGI example app as a fleet runs it: keys shared through Redis.

The example (``examples.wsgi.app``) reads only ``POMERIUM_AUDIENCE`` and
``POMERIUM_JWKS_URL``. This module serves the example's own routes behind a verifier
that also takes, from the environment:

``POMERIUM_REDIS_PORT``      a Redis on 127.0.0.1 holding the shared JWKS (unset: none)
``POMERIUM_RETRY_INTERVAL``  seconds between JWKS retries after a failure (default 5)

Run it as ``gunicorn -w 3 tests.integration.fleet_app:app``: every worker process
builds its own verifier and Redis connection, and they share one cached JWKS.
"""

from __future__ import annotations

import os
import typing as t

from examples.wsgi.app import router
from pomerium_wsgi import PomeriumMiddleware, Verifier


def _cache() -> t.Any:
    port = os.environ.get("POMERIUM_REDIS_PORT")
    if not port:
        return None
    from cachelib.redis import RedisCache
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # Short timeouts and one immediate retry: a dead Redis costs a request at most
    # about a second before the verifier falls back to its own copy and the network.
    return RedisCache(host="127.0.0.1", port=int(port), key_prefix="pw:",
                      socket_timeout=0.5, socket_connect_timeout=0.5,
                      retry=Retry(NoBackoff(), 1))


verifier = Verifier(
    os.environ.get("POMERIUM_AUDIENCE", "app.example.com"),
    jwks_url=os.environ.get("POMERIUM_JWKS_URL") or None,
    cache=_cache(),
    retry_interval=float(os.environ.get("POMERIUM_RETRY_INTERVAL", "5")),
)
app = PomeriumMiddleware(router, verifier, exempt=["/healthz"])
