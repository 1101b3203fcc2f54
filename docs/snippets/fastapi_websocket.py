from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from fastapi_pomerium import CurrentIdentity, Pomerium

app = FastAPI()
Pomerium(app, audience="app.example.com")


@app.websocket("/chat")
async def chat(websocket: WebSocket, identity: CurrentIdentity) -> None:
    # The handshake was verified; a refused one never gets here.
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"{identity.email}: {text}")
    except WebSocketDisconnect:
        pass
