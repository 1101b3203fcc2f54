"""``pomerium-wsgi dev``: run a WSGI or ASGI app locally as if Pomerium stood in front.

A local JWKS server with a fresh key stands in for Pomerium's; ``POMERIUM_AUDIENCE`` and
``POMERIUM_JWKS_URL`` point at it before the app is imported (every adapter reads them
when its own configuration leaves them out), and each request gets a freshly minted
token for the identity given on the command line. The app therefore verifies exactly
what it would verify behind Pomerium, with no Pomerium.

The server listens on loopback only (unless ``--allow-remote``) and answers only
requests for its own ``Host``: it logs in whoever reaches it. Ctrl-C and SIGTERM stop it
cleanly, SIGINT included when it was started from a script that ignores SIGINT for its
background jobs (a development server the developer cannot stop with Ctrl-C is worse
than one that stops).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import typing as t

from ..errors import ConfigurationError
from ..keys import SUPPORTED_ALGORITHMS, is_loopback
from ..testing import FakePomerium
from .common import (
    EXIT_USAGE,
    EXIT_VALID,
    PROG,
    LogCollector,
    UsageError,
    identity_options,
    parse_claims,
)
from .dev_app import AppError, LoadedApp, load_app
from .dev_reload import EXIT_RESTART, Watcher, inherited_socket, supervise
from .dev_servers import ASGIServer, Server, WSGIServer
from .dev_session import DevSession, DevUser, allowed_hosts
from .terminal import EscapingFormatter, echo, error

#: Settings dev leaves out of the app's environment: they would contradict its own.
_CLEARED = ("POMERIUM_JWKS", "POMERIUM_ISSUER")


def add_parser(sub: t.Any) -> None:
    dev = sub.add_parser(
        "dev", help="serve a WSGI or ASGI app locally with a minted identity per request",
        description="Start a local JWKS server with a fresh key, set POMERIUM_AUDIENCE and "
        "POMERIUM_JWKS_URL, import the app and serve it with a fresh token on every "
        "request. APP is MODULE:NAME (an app, or a factory called without arguments) or "
        "MODULE:FACTORY(ARGS).")
    dev.add_argument("app", metavar="MODULE:APP", help="e.g. examples.wsgi.app:app or "
                     "myapp:create_app()")
    identity_options(dev)
    dev.add_argument("--audience", default="app.example.com", metavar="HOST",
                     help="the audience the tokens carry (default app.example.com)")
    dev.add_argument("--algorithm", choices=SUPPORTED_ALGORITHMS, default="ES256")
    dev.add_argument("--anonymous", action="store_true",
                     help="inject no token: see what a request without identity gets")
    dev.add_argument("--reload", action="store_true",
                     help="restart when the app's Python files change (same address)")
    dev.add_argument("--asgi", action="store_true",
                     help="serve an ASGI app under uvicorn (detected for async apps)")
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on")
    dev.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    dev.add_argument("--allow-remote", action="store_true",
                     help="allow a non-loopback --host and any Host header (anyone "
                     "connecting is logged in)")
    dev.set_defaults(handler=cmd_dev)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_dev(args: argparse.Namespace, logs: LogCollector) -> int:
    if not is_loopback(args.host) and not args.allow_remote:
        raise UsageError(
            f"--host {args.host} is not a loopback address: every request gets a signed "
            "identity, so anyone who can connect would be logged in (pass --allow-remote "
            "to do it anyway)")
    if args.lifetime <= 0:
        raise UsageError("--lifetime must be a positive number of seconds")
    user = DevUser(args.email, list(args.group), parse_claims(args.claim), args.lifetime,
                   args.anonymous)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    logging.getLogger("pomerium_wsgi").removeHandler(logs)
    sock = inherited_socket()
    try:
        if sock is None:
            sock = _listen(args.host, args.port)
            if args.reload:
                with sock:
                    return supervise(sock, args.argv)
        with sock:
            return _run(args, user, sock, reloading=args.reload)
    except KeyboardInterrupt:
        echo(f"{PROG} dev: stopped", flush=True)
        return EXIT_VALID


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _show_logs() -> None:
    """The app's log lines (INFO and up) on stderr, each with its logger's name."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Their request lines would repeat dev's own; their warnings and errors still show.
    for name in ("werkzeug", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _run(args: argparse.Namespace, user: DevUser, sock: socket.socket,
         reloading: bool) -> int:
    _show_logs()
    try:
        fake = FakePomerium(args.audience, args.algorithm, issuer_format=args.issuer_format)
    except (ConfigurationError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    bound, port = sock.getsockname()[:2]
    hosts = None if args.allow_remote else allowed_hosts(bound, port, args.host)
    with fake.serve() as jwks_url:
        for name in _CLEARED:
            if os.environ.pop(name, None) is not None:
                error(f"{PROG} dev: note: {name} is not passed to the app (dev's keys and "
                      "issuer apply)")
        os.environ["POMERIUM_AUDIENCE"] = fake.audience
        os.environ["POMERIUM_JWKS_URL"] = jwks_url
        session = DevSession(fake, user, jwks_url, hosts)
        try:
            try:
                loaded = load_app(args.app, args.asgi)
            except AppError as exc:
                echo(exc.traceback.rstrip("\n"), file=sys.stderr)
                error(f"{PROG} dev: error: {exc}")
                if not reloading:
                    return EXIT_USAGE
                return _wait_for_fix(exc.files)
            return _serve(args, loaded, session, sock, reloading)
        finally:
            session.close()


def _wait_for_fix(files: t.Iterable[str]) -> int:
    watcher = Watcher(files)  # first: a change made once the line below shows is seen
    error(f"{PROG} dev: waiting for a change to restart")
    changed = watcher.wait()
    error(f"{PROG} dev: {changed} changed; restarting")
    return EXIT_RESTART


def _serve(args: argparse.Namespace, loaded: LoadedApp, session: DevSession,
           sock: socket.socket, reloading: bool) -> int:
    server: Server = (ASGIServer if loaded.asgi else WSGIServer)(loaded.app, session, sock)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    kind = ("ASGI, uvicorn" if loaded.asgi else "WSGI") + loaded.how
    for line in session.banner(args.app, kind, f"http://{shown}:{port}/", reloading):
        echo(line, flush=True)
    session.startup_check()
    watcher = None
    if reloading:
        watcher = Watcher()
        watcher.start(server.stop)
    server.serve()
    # Stopping: a second Ctrl-C (or the reloader's SIGTERM) must not interrupt the cleanup.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if watcher is not None:
        watcher.cancel()
        if watcher.changed:
            error(f"{PROG} dev: {watcher.changed} changed; restarting")
            return EXIT_RESTART
    echo(f"{PROG} dev: stopped", flush=True)
    return EXIT_VALID
