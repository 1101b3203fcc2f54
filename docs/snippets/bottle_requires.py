"""Bottle: the decorators are requirements too, and refusals go through @app.error."""

import bottle

from bottle_pomerium import (
    PomeriumPlugin,
    current_identity,
    require_email_domain,
    require_group,
    requires,
)

app = bottle.Bottle()
app.install(PomeriumPlugin(audience="app.example.com"))


@app.get("/reports")
@requires(require_group("finance") | require_email_domain("auditor.example"))
def reports():
    return f"reports for {current_identity().email}"


@app.error(403)
def forbidden(error):
    # error.reason == "forbidden"; error.exception is the AccessDenied
    return f"Not for you ({error.reason})"
