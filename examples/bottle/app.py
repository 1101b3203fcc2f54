"""A Bottle app protected by bottle_pomerium: one plugin, per-route requirements.

Settings come from the environment, so the same app runs behind a real Pomerium and on a
laptop under ``pomerium-wsgi dev examples.bottle.app:app``:

``POMERIUM_AUDIENCE``  this app's host as Pomerium routes to it (default app.example.com)
``POMERIUM_JWKS_URL``  where the keys are (default: Pomerium's URL for that host)

Serve it with any WSGI server, e.g.
``python -m waitress --listen=127.0.0.1:8080 examples.bottle.app:app``.
"""

from __future__ import annotations

import os
import typing as t

import bottle

from bottle_pomerium import PomeriumPlugin, current_identity, require_group

app = bottle.Bottle()
app.install(PomeriumPlugin(
    audience=os.environ.get("POMERIUM_AUDIENCE", "app.example.com"),
    jwks_url=os.environ.get("POMERIUM_JWKS_URL") or None,
))

PAGE = """<!doctype html><title>pomerium-wsgi Bottle demo</title>
<h1>Hello, {{identity.name or identity.email}}</h1>
<p>This identity came from a verified Pomerium JWT.</p>
<table>
% for label, value in rows:
<tr><th>{{label}}</th><td>{{value}}</td></tr>
% end
</table>
<p><a href="/admin">/admin</a> needs the group <code>admins</code>.</p>
"""


@app.get("/")
def home() -> t.Any:
    """Show who the verified token says the user is (JSON when asked for)."""
    identity = current_identity()
    assert identity is not None  # the plugin refuses requests without one
    if "json" in bottle.request.headers.get("Accept", ""):
        return {"email": identity.email, "groups": list(identity.groups),
                "subject": identity.subject, "expires_at": identity.expires_at.isoformat()}
    rows = [("email", identity.email), ("name", identity.name),
            ("groups", ", ".join(identity.groups) or "(none)"), ("subject", identity.subject),
            ("issuer", identity.issuer), ("expires", identity.expires_at.isoformat())]
    return bottle.template(PAGE, identity=identity, rows=rows)  # the template escapes


@app.get("/admin", pomerium=require_group("admins"))
def admin() -> str:
    """Only members of the ``admins`` group get here; everyone else gets 403."""
    bottle.response.content_type = "text/plain; charset=utf-8"
    return f"Welcome to the admin area, {current_identity()}.\n"


@app.get("/healthz", skip=["pomerium"])
def healthz() -> str:
    """Served without a token, for load balancer health checks."""
    bottle.response.content_type = "text/plain"
    return "ok\n"


@app.error(403)
def forbidden(error: bottle.HTTPError) -> str:
    """A friendlier 403 page; the status and no-store headers are kept."""
    bottle.response.content_type = "text/plain; charset=utf-8"
    return f"Forbidden: {error.body}. Ask an administrator to add you to the group.\n"


if __name__ == "__main__":  # pragma: no cover - local convenience
    bottle.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
