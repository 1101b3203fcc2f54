"""Helpers shared by the benchmark scripts: token pools, versions, RSS.

Tokens are minted with :class:`pomerium_wsgi.testing.FakePomerium`, so they have exactly
Pomerium's header and claim shape. Their ``exp`` is pushed an hour out (Pomerium's is
``iat + 300``): a long benchmark must not see its own tokens expire half way, and the
value of ``exp`` changes nothing in the work a verifier does.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import ssl
import sys
import time
import typing as t

from pomerium_wsgi.testing import FakePomerium

AUDIENCE = "app.example.com"
#: Token lifetime used by the benchmarks (see the module docstring).
BENCH_LIFETIME = 3600
LIBRARIES = ("pomerium-wsgi", "cryptography", "joserfc", "PyJWT", "Authlib", "python-jose",
             "jwcrypto", "gunicorn")


def group_names(count: int) -> list[str]:
    """*count* group names shaped like an IdP's (a 200-group token is about 8 KB)."""
    return [f"team-{i:04d}-engineering@example.com" for i in range(count)]


def mint(fake: FakePomerium, count: int, groups: int) -> list[str]:
    """*count* distinct tokens (each with its own ``jti`` and ``sid``) for one user."""
    names = group_names(groups)
    tokens = []
    for i in range(count):
        now = int(time.time())
        tokens.append(fake.token(email=f"user{i % 97}@example.com", groups=names,
                                 iat=now, exp=now + BENCH_LIFETIME))
    return tokens


def versions() -> dict[str, str]:
    """Interpreter, OpenSSL and library versions, for the report header."""
    from cryptography.hazmat.backends.openssl import backend

    info = {
        "python": sys.version.split()[0] + " (" + platform.python_implementation() + ")",
        "openssl (cryptography)": backend.openssl_version_text(),
        "openssl (ssl module)": ssl.OPENSSL_VERSION,
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        "cpu": cpu_model(),
    }
    for name in LIBRARIES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = "not installed"
    return info


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else the platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size in KiB, from ``/proc/<pid>/status`` (Linux only)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS line in /proc status")


def print_versions(info: t.Mapping[str, str]) -> None:
    """The versions as a Markdown list."""
    for key, value in info.items():
        print(f"- {key}: {value}")
