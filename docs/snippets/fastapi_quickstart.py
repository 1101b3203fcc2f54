from fastapi import Depends, FastAPI

from fastapi_pomerium import CurrentIdentity, Pomerium, require_group

app = FastAPI()
Pomerium(app, audience="app.example.com", exempt=["/healthz"])


@app.get("/")
async def home(identity: CurrentIdentity) -> str:
    return f"Hello, {identity.email}"


@app.get("/admin", dependencies=[Depends(require_group("admins"))])
async def admin() -> str:
    return "Welcome, admin"


@app.get("/healthz")
async def healthz() -> str:
    return "ok"
