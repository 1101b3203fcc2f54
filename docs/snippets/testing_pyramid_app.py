# myapp.py
from pyramid.authorization import DENY_ALL, Allow, Authenticated
from pyramid.config import Configurator
from pyramid.response import Response

#: What production.ini says.
PRODUCTION = {
    "pomerium.audience": "app.example.com",
    "pomerium.jwks_url": "https://pomerium.internal/.well-known/pomerium/jwks.json",
}


class Root:
    __acl__ = [(Allow, Authenticated, "view"), (Allow, "group:admins", "admin"), DENY_ALL]

    def __init__(self, request):
        self.request = request


def main(global_config, **settings):
    config = Configurator(settings=settings, root_factory=Root)
    config.include("pyramid_pomerium")
    config.add_route("home", "/")
    config.add_view(lambda request: Response(request.identity.email),
                    route_name="home", permission="view")
    config.add_route("admin", "/admin")
    config.add_view(lambda request: Response("admin area"),
                    route_name="admin", permission="admin")
    return config.make_wsgi_app()
