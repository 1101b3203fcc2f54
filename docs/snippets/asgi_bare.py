from pomerium_wsgi import Verifier, get_identity
from pomerium_wsgi.asgi import PomeriumMiddleware


async def hello(scope, receive, send):
    identity = get_identity(scope)
    body = f"Hello, {identity.email}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": body})


app = PomeriumMiddleware(hello, Verifier.from_env(audience="app.example.com"))
