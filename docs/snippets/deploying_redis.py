"""Keys shared by every worker and host through Redis."""

import os

from cachelib.redis import RedisCache
from redis.backoff import NoBackoff
from redis.retry import Retry

from pomerium_wsgi import PomeriumMiddleware, Verifier

cache = RedisCache(
    host=os.environ.get("REDIS_HOST", "redis.internal"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
    key_prefix="pw:",
    socket_timeout=0.5, socket_connect_timeout=0.5,  # a dead Redis must not stall requests
    retry=Retry(NoBackoff(), 1),                      # one immediate retry, then fall back
)
verifier = Verifier("app.example.com", cache=cache)


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


app = PomeriumMiddleware(hello, verifier, exempt=["/healthz"])
