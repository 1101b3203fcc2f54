"""``Pomerium(app)``: the ASGI middleware, the problem-document handler and the OpenAPI scheme.

One call wires a FastAPI (or Starlette) app: it builds the verifier (from the arguments,
completed from ``POMERIUM_*`` environment variables as every adapter does), adds
:class:`pomerium_wsgi.asgi.PomeriumMiddleware`, renders the dependencies' refusals as the
core's problem documents, and declares the token header as an OpenAPI security scheme.
Bad settings raise :class:`~pomerium_wsgi.ConfigurationError` here, at start-up.
"""

from __future__ import annotations

import typing as t

from starlette.requests import Request
from starlette.responses import Response

from pomerium_wsgi import ConfigurationError, Verifier, settings
from pomerium_wsgi.asgi import PomeriumMiddleware, render_problem
from pomerium_wsgi.middleware import normalise_exempt, path_is_exempt

from .dependencies import (
    DEFAULT_HEADER,
    SCHEME_DESCRIPTION,
    SCHEME_NAME,
    PomeriumHTTPException,
)

if t.TYPE_CHECKING:  # pragma: no cover
    from starlette.applications import Starlette

_OPERATIONS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


async def problem_handler(request: Request, exc: Exception) -> Response:
    """Render a :class:`PomeriumHTTPException` as the core's problem document."""
    assert isinstance(exc, PomeriumHTTPException)
    extra = [(k, v) for k, v in exc.headers.items()
             if k.lower() in ("retry-after",)] if exc.headers else []
    status, headers, body = render_problem(request.scope, exc.status_code, exc.reason,
                                           exc.detail, extra)
    return Response(body, status_code=status, headers=dict(headers))


class Pomerium:
    """Protect a FastAPI or Starlette app with Pomerium's identity token.

    :param app: the FastAPI (or Starlette) application.
    :param verifier: a ready :class:`~pomerium_wsgi.Verifier` (the environment is then
        ignored); or leave it out and pass Verifier options (``audience=...``,
        ``jwks_url=...``): those left out come from ``POMERIUM_AUDIENCE``, ...
    :param optional: anonymous requests reach the app (routes guard themselves with the
        dependencies); ``POMERIUM_OPTIONAL`` when left out.
    :param exempt: path prefixes served without verification; ``POMERIUM_EXEMPT``.
    :param header: the request header carrying the token.
    :param cors_preflight: let CORS preflights through unverified (Pomerium's
        ``cors_allow_preflight``); ``POMERIUM_CORS_PREFLIGHT``.

    The app's OpenAPI document declares the security scheme ``Pomerium`` (an API key in
    the token header); routes that depend on :data:`~fastapi_pomerium.current_identity`
    or a requirement list it, and so, unless ``optional``, does every route the
    middleware guards (all but the exempt ones). The instance is kept at
    ``app.state.pomerium``; signals are sent with the app as ``sender``.
    """

    def __init__(
        self,
        app: Starlette,
        verifier: Verifier | None = None,
        *,
        optional: bool | None = None,
        exempt: t.Iterable[str] | str | None = None,
        header: str | None = None,
        cors_preflight: bool | None = None,
        **verifier_options: t.Any,
    ) -> None:
        given = {"optional": optional, "exempt": exempt, "header": header,
                 "cors_preflight": cors_preflight}
        if verifier is not None:
            if verifier_options:
                raise ConfigurationError(
                    "Pomerium takes a verifier or Verifier options, not both "
                    f"(got {', '.join(sorted(verifier_options))})"
                )
            if not callable(getattr(verifier, "verify", None)):
                raise ConfigurationError("verifier must be a pomerium_wsgi.Verifier")
            merged = settings.with_env({**given, "verifier": verifier})
        else:
            merged = settings.with_env(given)
            verifier = Verifier.from_env(**verifier_options)
        self.verifier = verifier
        self.optional: bool = settings.coerce(
            "optional", merged.get("optional", False), label="optional")
        self.exempt = normalise_exempt(settings.coerce(
            "exempt", merged.get("exempt", ()), label="exempt"))
        self.header: str = settings.coerce(
            "header", merged.get("header", DEFAULT_HEADER), label="header")
        self.cors_preflight: bool = settings.coerce(
            "cors_preflight", merged.get("cors_preflight", False), label="cors_preflight")
        self.app = app
        app.add_middleware(
            PomeriumMiddleware,
            verifier=verifier,
            optional=self.optional,
            exempt=self.exempt,
            header=self.header,
            cors_preflight=self.cors_preflight,
            sender=app,
        )
        app.add_exception_handler(PomeriumHTTPException, problem_handler)
        if callable(getattr(app, "openapi", None)):
            self._install_openapi(app)
        app.state.pomerium = self

    def _install_openapi(self, app: t.Any) -> None:
        """Wrap ``app.openapi`` (FastAPI's documented hook) to declare the scheme."""
        build = app.openapi

        def openapi() -> dict[str, t.Any]:
            schema: dict[str, t.Any] = build()
            self.document(schema)
            return schema

        app.openapi = openapi

    def document(self, schema: dict[str, t.Any]) -> None:
        """Declare the security scheme in an OpenAPI *schema* (in place; idempotent)."""
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[SCHEME_NAME] = {"type": "apiKey", "description": SCHEME_DESCRIPTION,
                                "in": "header", "name": self.header}
        if self.optional:
            return
        for path, item in schema.get("paths", {}).items():
            if path_is_exempt(path, self.exempt):
                continue
            for method, operation in item.items():
                if method in _OPERATIONS and isinstance(operation, dict):
                    security = operation.setdefault("security", [])
                    if {SCHEME_NAME: []} not in security:
                        security.append({SCHEME_NAME: []})

    def __repr__(self) -> str:
        return f"Pomerium({self.verifier!r}, optional={self.optional})"
