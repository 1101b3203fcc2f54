"""A Flask app protected by flask_pomerium: one extension, decorators, a guarded API.

Settings come from the environment, so the same app runs behind a real Pomerium and on a
laptop under ``pomerium-wsgi dev examples.flask.app:app``:

``POMERIUM_AUDIENCE``  this app's host as Pomerium routes to it (default app.example.com)
``POMERIUM_JWKS_URL``  where the keys are (default: Pomerium's URL for that host)

Serve it with any WSGI server, e.g.
``gunicorn --bind 127.0.0.1:8080 examples.flask.app:app``.
"""

from __future__ import annotations

import json
import logging
import os
import typing as t

from flask import Blueprint, Flask, g, jsonify, render_template, request, request_finished
from werkzeug.exceptions import Forbidden

from flask_pomerium import (
    Pomerium,
    current_identity,
    get_current_identity,
    protect_blueprint,
    require_claim,
    require_email_domain,
    require_group,
    requires,
)
from pomerium_wsgi.signals import access_denied, verification_failed

#: One extension object for every app the factory builds.
pomerium = Pomerium()

#: The JSON API: every endpoint needs an address at example.com.
api = protect_blueprint(Blueprint("api", __name__, url_prefix="/api"),
                        require_email_domain("example.com"))

audit_log = logging.getLogger("audit")


@api.get("/me")
def me() -> t.Any:
    """The caller's identity, as JSON."""
    return jsonify(email=current_identity.email, name=current_identity.name,
                   groups=list(current_identity.groups), subject=current_identity.subject,
                   expires_at=current_identity.expires_at.isoformat())


@api.get("/reports")
@requires(require_group("admins", "auditors") | require_claim("department", "finance"))
def reports() -> t.Any:
    """Only admins, auditors or the finance department see the reports."""
    return jsonify(reports=[{"id": 1, "title": "Quarterly access review"}])


def install_audit_log(app: Flask) -> None:
    """One structured log line per request: who, which endpoint, allowed or denied, why.

    The core's signals say why a request was refused; Flask's ``request_finished`` says
    how it ended. All receivers are bound to this app: ``connect_via(app)`` works because
    flask_pomerium sends the signals with the Flask app as ``sender`` (and keeps the
    receivers alive: ``connect_via`` holds them strongly).
    """

    @verification_failed.connect_via(app)
    def on_failed(sender: Flask, error: Exception, **extra: t.Any) -> None:
        g.audit_why = getattr(error, "reason", "invalid")

    @access_denied.connect_via(app)
    def on_denied(sender: Flask, requirement: object, **extra: t.Any) -> None:
        g.audit_why = f"requires {requirement}"

    @request_finished.connect_via(app)
    def on_finished(sender: Flask, response: t.Any, **extra: t.Any) -> None:
        identity = get_current_identity()
        denied = response.status_code in (401, 403, 503)
        audit_log.info(json.dumps({
            "who": identity.email if identity else None,
            "endpoint": request.endpoint,
            "method": request.method,
            "status": response.status_code,
            "outcome": "denied" if denied else "allowed",
            "why": g.get("audit_why") if denied else None,
        }))


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    """The application factory: settings from the environment, overridable by *config*."""
    app = Flask(__name__)
    app.config.update(
        POMERIUM_AUDIENCE=os.environ.get("POMERIUM_AUDIENCE", "app.example.com"),
        POMERIUM_JWKS_URL=os.environ.get("POMERIUM_JWKS_URL") or None,
        POMERIUM_EXEMPT=["/healthz"],
    )
    app.config.update(config or {})
    pomerium.init_app(app)
    app.register_blueprint(api)
    install_audit_log(app)

    @app.get("/")
    def home() -> str:
        """Who the verified token says the user is."""
        return render_template("index.html")

    @app.get("/admin")
    @require_group("admins")
    def admin() -> str:
        """Only members of the ``admins`` group get here; everyone else gets 403."""
        return render_template("admin.html")

    @app.get("/healthz")
    def healthz() -> tuple[str, int, dict[str, str]]:
        """Served without a token (POMERIUM_EXEMPT), for load balancer health checks."""
        return "ok\n", 200, {"Content-Type": "text/plain"}

    @app.errorhandler(403)
    def forbidden(error: Forbidden) -> t.Any:
        """A friendlier 403 page for browsers; API clients keep the default body."""
        if request.blueprint == "api" or not request.accept_mimetypes.accept_html:
            return error  # the default body: application/problem+json or HTML by Accept
        return render_template("forbidden.html", error=error), 403, {"Cache-Control": "no-store"}

    return app


app = create_app()

if __name__ == "__main__":  # pragma: no cover - local convenience
    logging.basicConfig(level=logging.INFO)
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
