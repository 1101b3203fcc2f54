# myapp/__init__.py
from pyramid.config import Configurator
from pyramid.response import Response


def main(global_config, **settings):
    config = Configurator(settings=settings)
    config.include("pyramid_pomerium")  # pomerium.* settings, then POMERIUM_* variables
    config.add_route("home", "/")
    config.add_view(home, route_name="home")
    return config.make_wsgi_app()


def home(request):
    return Response(f"Hello, {request.identity.email}")
