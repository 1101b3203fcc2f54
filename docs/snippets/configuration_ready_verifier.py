# settings for a Pyramid app whose key cache lives in Redis
from cachelib import RedisCache
from pyramid.config import Configurator

from pomerium_wsgi import Verifier


def make_config(settings):
    cache = RedisCache(host=settings["redis.host"], port=int(settings["redis.port"]),
                       key_prefix="pw:")
    verifier = Verifier("app.example.com", cache=cache)
    # A ready verifier wins: other pomerium.* verifier settings and POMERIUM_* are not used.
    config = Configurator(settings={**settings, "pomerium.verifier": verifier})
    config.include("pyramid_pomerium")
    return config
