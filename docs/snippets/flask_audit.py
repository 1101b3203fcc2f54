"""One structured audit line per request: who, which endpoint, allowed or denied, why."""

import json
import logging

from flask import Flask, g, request, request_finished

from flask_pomerium import Pomerium, get_current_identity, require_group
from pomerium_wsgi.signals import access_denied, verification_failed

app = Flask(__name__)
app.config["POMERIUM_AUDIENCE"] = "app.example.com"
Pomerium(app)
audit = logging.getLogger("audit")


@verification_failed.connect_via(app)
def on_failed(sender, error, **extra):
    g.audit_why = error.reason


@access_denied.connect_via(app)
def on_denied(sender, requirement, **extra):
    g.audit_why = f"requires {requirement}"


@request_finished.connect_via(app)
def on_finished(sender, response, **extra):
    identity = get_current_identity()
    denied = response.status_code in (401, 403, 503)
    audit.info(json.dumps({
        "who": identity.email if identity else None,
        "endpoint": request.endpoint,
        "status": response.status_code,
        "outcome": "denied" if denied else "allowed",
        "why": g.get("audit_why") if denied else None,
    }))


@app.get("/admin")
@require_group("admins")
def admin():
    return "admin area"
