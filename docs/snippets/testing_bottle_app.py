# myapp.py: the plugin is installed when the module is imported
import bottle

from bottle_pomerium import PomeriumPlugin, current_identity, require_group

app = bottle.Bottle()
app.install(PomeriumPlugin(audience="app.example.com"))


@app.get("/")
def home():
    return {"email": current_identity().email}


@app.get("/admin", pomerium=require_group("admins"))
def admin():
    return "admin area"
