"""``pomerium-wsgi dev --reload``: restart the app when its files change, same address.

Two processes, as werkzeug's reloader does it. The first binds the listening socket once
and runs the second, ``pomerium-wsgi dev`` again with the socket's descriptor in
``POMERIUM_WSGI_DEV_FD``; that child imports and serves the app and watches its files.
When one changes, the child stops serving and exits with :data:`EXIT_RESTART`, and the
first process starts a fresh child on the same socket: no request is refused meanwhile
(the kernel queues them), and the app's module-level state starts clean.

The files watched are the app's: every Python module loaded from outside the Python
installation (standard library and site-packages are left out), plus the files named by
the traceback of a failed import, so fixing a syntax error restarts the app too. They are
polled by modification time: no extra dependency, and it works on every file system.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import typing as t

#: The child's exit status asking for a restart.
EXIT_RESTART = 3
FD_VARIABLE = "POMERIUM_WSGI_DEV_FD"
_INTERVAL = 0.5


def supervise(sock: socket.socket, argv: t.Sequence[str]) -> int:
    """Run ``dev`` in a child on *sock* until it exits for another reason than a change."""
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    env = {**os.environ, FD_VARIABLE: str(fd)}
    command = [sys.executable, "-m", "pomerium_wsgi", *argv]
    while True:
        child = subprocess.Popen(command, env=env, pass_fds=(fd,))  # noqa: S603 - ourselves
        try:
            status = child.wait()
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: let the child stop cleanly
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            return 0
        if status != EXIT_RESTART:
            return status if status >= 0 else 128 - status


def inherited_socket() -> socket.socket | None:
    """In the child: the socket the supervisor bound, or None when not reloading."""
    value = os.environ.pop(FD_VARIABLE, None)
    if value is None:
        return None
    return socket.socket(fileno=int(value))


def _installation() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")
             if name in paths}
    roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    return tuple(os.path.join(os.path.abspath(root), "") for root in roots)


class Watcher:
    """Polls the app's source files; reports the first one that changes."""

    def __init__(self, extra: t.Iterable[str] = ()) -> None:
        self.extra = {os.path.abspath(path) for path in extra}
        self.changed: str | None = None
        self._excluded = _installation()
        self._stop = threading.Event()
        self._times: dict[str, int] = {}
        self._scan()

    def files(self) -> set[str]:
        found = set(self.extra)
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and path.endswith(".py"):
                path = os.path.abspath(path)
                if not path.startswith(self._excluded):
                    found.add(path)
        return found

    def _scan(self) -> str | None:
        """Record modification times; return a file changed since the last scan."""
        changed = None
        for path in self.files():
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:
                mtime = -1  # deleted (or being replaced): a change too, once it was seen
            previous = self._times.setdefault(path, mtime)
            if previous != mtime and changed is None:
                changed = path
            self._times[path] = mtime
        return changed

    def wait(self) -> str | None:
        """Block until a file changes (returns it) or :meth:`cancel` is called."""
        while not self._stop.wait(_INTERVAL):
            changed = self._scan()
            if changed:
                self.changed = changed
                return changed
        return None

    def start(self, on_change: t.Callable[[], None]) -> None:
        """Watch in a daemon thread; call *on_change* (once) on the first change."""

        def run() -> None:
            if self.wait():
                on_change()

        threading.Thread(target=run, name="pomerium-wsgi-reload", daemon=True).start()

    def cancel(self) -> None:
        self._stop.set()
