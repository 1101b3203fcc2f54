from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI

from fastapi_pomerium import (
    OptionalIdentity,
    Pomerium,
    require_claim,
    require_email_domain,
    require_group,
)
from pomerium_wsgi import Identity

app = FastAPI()
Pomerium(app, audience="app.example.com", optional=True)

# Anyone at example.com, or a contractor whose IdP sends department=finance.
finance = require_email_domain("example.com") | require_claim("department", "finance")


@app.get("/")
async def home(identity: OptionalIdentity) -> str:
    return f"Hello, {identity.email}" if identity else "Hello, stranger"


@app.get("/reports")
async def reports(identity: Annotated[Identity, Depends(finance)]) -> dict[str, str]:
    return {"reports for": identity.email}


# Every route of the router: group "admins" and a verified email at example.com.
admin = APIRouter(
    prefix="/admin",
    dependencies=[Depends(require_group("admins") & require_email_domain("example.com"))],
)


@admin.get("/users")
async def users() -> list[str]:
    return ["ada@example.com"]


app.include_router(admin)
