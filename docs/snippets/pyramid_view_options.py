"""Pyramid: requirements on views, beside permission=."""

from pyramid.config import Configurator
from pyramid.response import Response

from pomerium_wsgi import require_email_domain


def reports(request):
    return Response("reports")


def ops(request):
    return Response("ops")


def make_app(settings):
    with Configurator(settings=settings) as config:
        config.include("pyramid_pomerium")
        config.add_route("reports", "/reports")
        config.add_route("ops", "/ops")
        config.add_view(reports, route_name="reports", pomerium_groups=("finance", "admins"))
        config.add_view(ops, route_name="ops",
                        pomerium_requirement=require_email_domain("example.com"))
    return config.make_wsgi_app()
