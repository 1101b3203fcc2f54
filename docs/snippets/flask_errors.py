"""Render Pomerium's 401 and 403 with the app's own error handlers."""

from flask import Flask, render_template_string

from flask_pomerium import Pomerium, require_group

app = Flask(__name__)
app.config["POMERIUM_AUDIENCE"] = "app.example.com"
Pomerium(app)

FORBIDDEN = "<h1>Not for you</h1><p>This page needs {{ error.requirement }}.</p>"


@app.errorhandler(403)
def forbidden(error):
    # error.reason == "forbidden"; error.requirement, error.identity, error.description
    return render_template_string(FORBIDDEN, error=error), 403


@app.get("/admin")
@require_group("admins")
def admin():
    return "admin area"
