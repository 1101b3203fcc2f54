"""A pure ASGI app, served with ``pomerium-wsgi dev cli_asgi:app`` (under uvicorn).

It verifies the header itself to stay framework-free; a FastAPI or Starlette app would
use the ASGI middleware instead.
"""

import os

from pomerium_wsgi import VerificationError, Verifier

verifier = Verifier(os.environ["POMERIUM_AUDIENCE"],
                    jwks_url=os.environ.get("POMERIUM_JWKS_URL"))


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    token = dict(scope["headers"]).get(b"x-pomerium-jwt-assertion", b"").decode()
    try:
        status, text = 200, f"Hello, {verifier.verify(token).email}\n"
    except VerificationError as error:
        status, text = 401, f"refused: {error.reason}\n"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": text.encode()})
