# app.py
from flask import Flask

from flask_pomerium import Pomerium, current_identity

app = Flask(__name__)
app.config["POMERIUM_AUDIENCE"] = "app.example.com"  # given in code: wins over the environment
app.config["POMERIUM_EXEMPT"] = ["/healthz"]
Pomerium(app)  # POMERIUM_JWKS_URL, POMERIUM_LEEWAY, ... left out here: read from the environment


@app.get("/")
def home():
    return {"email": current_identity.email}


@app.get("/healthz")
def healthz():
    return "ok"
