from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from pomerium_wsgi import Verifier, get_identity
from pomerium_wsgi.asgi import PomeriumMiddleware


async def whoami(request: Request) -> JSONResponse:
    # The scope, as get_identity(environ) in WSGI; never None here: without a valid
    # token the middleware answered 401 before any route ran.
    identity = get_identity(request.scope)
    return JSONResponse({"email": identity.email, "groups": list(identity.groups)})


async def healthz(request: Request) -> PlainTextResponse:
    # Exempt below: the load balancer's checks reach the app without Pomerium.
    return PlainTextResponse("ok")


# The audience in code; the keys' URL, if not Pomerium's default, from POMERIUM_JWKS_URL.
verifier = Verifier.from_env(audience="app.example.com")

app = Starlette(
    routes=[Route("/whoami", whoami), Route("/healthz", healthz)],
    middleware=[Middleware(PomeriumMiddleware, verifier=verifier, exempt=["/healthz"])],
)
