import bottle

from bottle_pomerium import PomeriumPlugin, current_identity, require_group

app = bottle.Bottle()
app.install(PomeriumPlugin(audience="app.example.com"))  # the route's host in Pomerium


@app.get("/")
def home():
    return {"email": current_identity().email}           # 401 before this without a valid token


@app.get("/admin", pomerium=require_group("admins"))    # 403 for everyone else
def admin():
    return "admin area"


@app.get("/healthz", skip=["pomerium"])                  # served without verification
def healthz():
    return "ok"
