# myapp.py: production settings name the audience and an internal JWKS URL
from flask import Flask

from flask_pomerium import Pomerium, current_identity, require_group


def create_app(verifier=None):
    app = Flask(__name__)
    app.config["POMERIUM_AUDIENCE"] = "app.example.com"
    app.config["POMERIUM_JWKS_URL"] = "https://pomerium.internal/.well-known/pomerium/jwks.json"
    Pomerium(app, verifier=verifier)  # a verifier given here wins over the keys above

    @app.get("/")
    def home():
        return {"email": current_identity.email}

    @app.get("/admin")
    @require_group("admins")
    def admin():
        return "admin area"

    return app
