from pyramid.authorization import DENY_ALL, Allow, Authenticated
from pyramid.config import Configurator
from pyramid.response import Response


class Root:
    __acl__ = [
        (Allow, Authenticated, "view"),
        (Allow, "group:admins", "admin"),
        (Allow, "email:ops@example.com", "admin"),
        DENY_ALL,
    ]

    def __init__(self, request):
        self.request = request


def main(global_config, **settings):
    config = Configurator(settings=settings, root_factory=Root)
    config.include("pyramid_pomerium")
    config.add_route("home", "/")
    config.add_view(home, route_name="home", permission="view")
    config.add_route("admin", "/admin")
    config.add_view(admin, route_name="admin", permission="admin")
    return config.make_wsgi_app()


def home(request):
    identity = request.identity            # a verified pomerium_wsgi.Identity
    return Response(f"Hello, {identity.email} ({request.authenticated_userid})")


def admin(request):                        # group:admins or ops@example.com only
    return Response("admin area")
