from flask import Flask, render_template_string

from flask_pomerium import Pomerium, current_identity, require_group

app = Flask(__name__)
app.config["POMERIUM_AUDIENCE"] = "app.example.com"  # the route's host in Pomerium
app.config["POMERIUM_EXEMPT"] = ["/healthz"]          # served without a token
Pomerium(app)                                         # every other request is verified


@app.get("/")
def home():
    return f"Hello, {current_identity.email}"


@app.get("/admin")
@require_group("admins")                              # 403 for everyone else
def admin():
    return render_template_string("Welcome, {{ current_identity.name }}")


@app.get("/healthz")
def healthz():
    return "ok"
