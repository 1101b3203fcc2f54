# app.py
import bottle

from bottle_pomerium import PomeriumPlugin, current_identity

app = bottle.Bottle()
app.install(PomeriumPlugin(audience="app.example.com"))  # the rest from POMERIUM_* variables


@app.get("/")
def home():
    identity = current_identity()  # None for an anonymous request in optional mode
    return {"email": identity.email if identity else None}
