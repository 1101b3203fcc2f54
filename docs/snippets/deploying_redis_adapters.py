"""The same shared cache given to each framework's adapter."""

import bottle
from cachelib.redis import RedisCache
from flask import Flask
from pyramid.config import Configurator

from bottle_pomerium import PomeriumPlugin
from flask_pomerium import Pomerium
from pomerium_wsgi import Verifier


def flask_app(cache: RedisCache) -> Flask:
    app = Flask(__name__)
    app.config["POMERIUM_AUDIENCE"] = "app.example.com"
    app.config["POMERIUM_CACHE"] = cache
    app.config["POMERIUM_EXEMPT"] = ["/healthz"]
    Pomerium(app)
    return app


def bottle_app(cache: RedisCache) -> bottle.Bottle:
    app = bottle.Bottle()
    app.install(PomeriumPlugin(audience="app.example.com", cache=cache))
    return app


def pyramid_app(cache: RedisCache):
    # An .ini file cannot hold a cache object: pass a ready verifier instead.
    verifier = Verifier("app.example.com", cache=cache)
    with Configurator(settings={"pomerium.verifier": verifier}) as config:
        config.include("pyramid_pomerium")
    return config.make_wsgi_app()
