"""Finding the application ``pomerium-wsgi dev`` serves: ``MODULE:APP`` or a factory.

The spec is read the way ``flask --app`` reads it: ``module:name`` names an application,
or a factory function that takes no arguments (it is called); ``module:create_app()`` or
``module:create_app("dev", debug=True)`` calls a factory with literal arguments. The
result is a WSGI application or an ASGI one (``async def app(scope, receive, send)``, an
instance whose ``__call__`` is a coroutine function, a Starlette or FastAPI app).

An exception raised by the user's own code (importing the module, running the factory) is
theirs to read: it is kept with its traceback, trimmed of this loader's and importlib's
frames, and shown in full; ``dev --reload`` also watches the files that traceback names.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import os
import sys
import traceback
import typing as t

from .common import UsageError

_HERE = os.path.dirname(os.path.abspath(__file__))
_IMPORTLIB = os.path.dirname(os.path.abspath(importlib.__file__ or ""))


class AppError(UsageError):
    """The user's code raised while loading the app: shown with its traceback."""

    def __init__(self, message: str, exc: BaseException) -> None:
        super().__init__(message)
        summary = traceback.TracebackException.from_exception(exc)
        kept = [frame for frame in summary.stack if _is_users(frame.filename)]
        summary.stack = traceback.StackSummary.from_list(kept)
        self.traceback = "".join(summary.format())
        #: The source files involved, for the reloader to watch.
        self.files = {frame.filename for frame in kept if os.path.isfile(frame.filename)}
        filename = getattr(exc, "filename", None)  # a SyntaxError's file
        if isinstance(filename, str) and os.path.isfile(filename):
            self.files.add(filename)


def _is_users(filename: str) -> bool:
    return not (filename.startswith("<frozen importlib")
                or os.path.dirname(os.path.abspath(filename)) in (_HERE, _IMPORTLIB))


@dataclasses.dataclass
class LoadedApp:
    """The application and what kind of server it needs."""

    app: t.Any
    asgi: bool
    how: str  # e.g. ", from create_app()", for the banner


def is_asgi(app: object) -> bool:
    """True for an ASGI 3 application (a coroutine function of scope, receive, send)."""
    if inspect.iscoroutinefunction(app):
        return True
    plain = inspect.isfunction(app) or inspect.ismethod(app) or inspect.isclass(app)
    if not plain and inspect.iscoroutinefunction(type(app).__call__):  # an instance
        return True
    return any(cls.__module__.startswith("starlette.") and cls.__name__ == "Starlette"
               for cls in type(app).__mro__)


def _is_factory(value: object) -> bool:
    """A plain function callable without arguments (a WSGI function needs two)."""
    if not (inspect.isfunction(value) or inspect.ismethod(value)) or is_asgi(value):
        return False
    try:
        parameters = inspect.signature(value).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return not any((p.kind in positional and p.default is p.empty)
                   or p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)


def _parse(spec: str) -> tuple[str, list[str], tuple[list[t.Any], dict[str, t.Any]] | None]:
    """``module:a.b`` or ``module:a.b(args)`` -> module, attribute path, call arguments."""
    module_name, sep, expression = spec.partition(":")
    usage = (f"{spec!r} is not MODULE:APP or MODULE:FACTORY() "
             "(for example examples.wsgi.app:app or myapp:create_app())")
    if not sep or not module_name or not expression:
        raise UsageError(usage)
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        raise UsageError(usage) from None
    call: tuple[list[t.Any], dict[str, t.Any]] | None = None
    if isinstance(node, ast.Call):
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        except ValueError:
            raise UsageError(f"{spec!r}: a factory's arguments must be literals") from None
        if len(kwargs) != len(node.keywords):
            raise UsageError(f"{spec!r}: a factory's arguments must be literals")
        call, node = (args, kwargs), node.func
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise UsageError(usage)
    path.insert(0, node.id)
    return module_name, path, call


def _import(module_name: str) -> t.Any:
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as gunicorn does: the app lives beside the user
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise UsageError(f"cannot import {module_name!r}: no module named {exc.name!r} "
                             "(run from the directory that contains it)") from None
        raise AppError(f"importing {module_name!r} failed (traceback above)", exc) from None
    except Exception as exc:
        raise AppError(f"importing {module_name!r} failed (traceback above)", exc) from None


def load_app(spec: str, force_asgi: bool = False) -> LoadedApp:
    """Import and resolve *spec*; raises UsageError (AppError for the user's exceptions)."""
    module_name, path, call = _parse(spec)
    value: t.Any = _import(module_name)
    for part in path:
        try:
            value = getattr(value, part)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no attribute {'.'.join(path)!r}") from None
    name = ".".join(path)
    how = ""
    if call is not None or _is_factory(value):
        if not callable(value):
            raise UsageError(f"{module_name}:{name} is not callable")
        args, kwargs = call or ([], {})
        try:
            value = value(*args, **kwargs)
        except Exception as exc:
            raise AppError(f"the factory {name}() raised (traceback above)", exc) from None
        how = f", from {name}()"
        if value is None:
            raise UsageError(f"the factory {name}() returned None, not an application")
    if not callable(value):
        raise UsageError(f"{spec} is not a WSGI application (nor ASGI, nor a factory of "
                         f"one): a {type(value).__name__} is not callable")
    return LoadedApp(value, force_asgi or is_asgi(value), how)
