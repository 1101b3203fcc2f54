"""A small FastAPI API behind Pomerium: guarded routes, a guarded router, a WebSocket.

Configured only by the environment (``POMERIUM_AUDIENCE``, ``POMERIUM_JWKS_URL``, ...), so
``pomerium-wsgi dev``, uvicorn in production and the tests all run it unchanged::

    uvicorn examples.fastapi.app:app --port 8080

Every request needs a verified identity except ``/healthz``; ``/api/reports`` also needs
the group ``auditors`` or ``admins``, everything under ``/api/admin`` the group
``admins``. ``/ws/echo`` is a WebSocket whose handshake is verified like any request.
"""

from __future__ import annotations

import typing as t

from fastapi import APIRouter, Depends, FastAPI, WebSocket, WebSocketDisconnect

from fastapi_pomerium import CurrentIdentity, Pomerium, require_group
from pomerium_wsgi import Identity

app = FastAPI(title="Pomerium example API", version="1.0")
# Audience and JWKS URL come from POMERIUM_AUDIENCE / POMERIUM_JWKS_URL; /healthz is for
# the load balancer's health checks, which reach the app without Pomerium.
Pomerium(app, exempt=["/healthz"])


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/me")
async def me(identity: CurrentIdentity) -> dict[str, t.Any]:
    """Who Pomerium says the caller is."""
    return {"email": identity.email, "name": identity.name, "groups": list(identity.groups)}


@app.get("/api/reports")
async def reports(
    identity: t.Annotated[Identity, Depends(require_group("auditors", "admins"))],
) -> dict[str, t.Any]:
    return {"reports": ["q1", "q2"], "for": identity.email}


admin = APIRouter(prefix="/api/admin", dependencies=[Depends(require_group("admins"))])


@admin.get("/users")
async def users() -> list[str]:
    return ["ada@example.com", "bob@example.com"]


app.include_router(admin)


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket, identity: CurrentIdentity) -> None:
    """Echo each text message back, signed with the caller's email."""
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"{identity.email}: {text}")
    except WebSocketDisconnect:
        pass
