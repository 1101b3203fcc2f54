"""Pyramid: the security policy set by hand, from a verifier built in code."""

from pyramid.config import Configurator
from pyramid.response import Response

from pomerium_wsgi import Verifier
from pyramid_pomerium import PomeriumSecurityPolicy, forbidden_view


def whoami(request):
    identity = request.identity  # None for an anonymous request: the policy is optional
    return Response(identity.email if identity else "anonymous")


def make_app():
    verifier = Verifier("app.example.com")
    with Configurator() as config:
        config.set_security_policy(PomeriumSecurityPolicy(verifier, exempt="/healthz"))
        config.add_forbidden_view(forbidden_view)
        config.add_route("whoami", "/")
        config.add_view(whoami, route_name="whoami")
    return config.make_wsgi_app()
