"""Flask authorization: combined requirements, a class-based view, a whole blueprint."""

from flask import Blueprint, Flask
from flask.views import MethodView

from flask_pomerium import (
    Pomerium,
    current_identity,
    protect_blueprint,
    require_claim,
    require_email_domain,
    require_group,
    requires,
)

app = Flask(__name__)
app.config["POMERIUM_AUDIENCE"] = "app.example.com"
Pomerium(app)


@app.get("/reports")
@requires(require_group("auditors") | require_claim("department", "finance"))
async def reports():
    return "reports"


# flask_pomerium's decorators guard View classes: every method, and every subclass.
@require_group("admins")
class Settings(MethodView):
    def get(self):
        return f"settings of {current_identity.email}"

    def post(self):
        return "saved"


app.add_url_rule("/settings", view_func=Settings.as_view("settings"))

api = protect_blueprint(Blueprint("api", __name__), require_email_domain("example.com"))


@api.get("/ping")
def ping():
    return {"pong": current_identity.email}


app.register_blueprint(api, url_prefix="/api")
