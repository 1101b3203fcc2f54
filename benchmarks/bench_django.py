"""The Django middleware's cost beyond ``Verifier.verify``, per request.

Measures ``django_pomerium.middleware.PomeriumMiddleware`` for a known user whose groups
and flags already match the token (the hot path), with

- the verifier replaced by one that returns a ready ``Identity`` (so ``verify`` costs
  next to nothing and what remains is the middleware's own work), and
- the backend's one query replaced by the user it would return (the query is measured
  separately, on SQLite in memory, for reference).

Goal: at most 10 µs beyond verification. Run from the repository root::

    python benchmarks/bench_django.py [--number 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import timeit
import typing as t

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import django
from django.conf import settings

from pomerium_wsgi import Identity
from pomerium_wsgi.testing import FakePomerium

GROUPS = ["staff", "ops", "dev"]


class ReadyVerifier:
    """Returns one verified identity for any token: ``verify`` reduced to a call."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def verify(self, token: str) -> Identity:
        return self.identity


def configure(verifier: t.Any, backend: str | None) -> None:
    settings.configure(
        SECRET_KEY="bench", ALLOWED_HOSTS=["*"], USE_TZ=True,
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django_pomerium"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        AUTHENTICATION_BACKENDS=[backend] if backend else [],
        POMERIUM={"VERIFIER": verifier, "SYNC_GROUPS": True, "STAFF_GROUPS": ["staff"]},
    )
    django.setup()


def best_us(statement: t.Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(statement, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="profile the hot path instead")
    args = parser.parse_args()

    fake = FakePomerium()
    real_verifier = fake.verifier()
    identity = real_verifier.verify(fake.token("ada@example.com", GROUPS))
    ready = ReadyVerifier(identity)
    configure(ready, "django_pomerium.backends.PomeriumBackend")

    from django.contrib.auth.models import AnonymousUser
    from django.core.management import call_command
    from django.http import HttpResponse
    from django.test import RequestFactory

    from django_pomerium import backends
    from django_pomerium.middleware import PomeriumMiddleware

    call_command("migrate", verbosity=0)
    backend = backends.PomeriumBackend()
    backend.authenticate(None, identity=identity)  # creates the user and its groups
    conf = __import__("django_pomerium").get_settings()
    known, _ = backend.get_user_for("ada@example.com", identity, conf)

    class PrefetchedBackend(backends.PomeriumBackend):
        """The hot path without its query: the user the query would return."""

        def get_user_for(self, username: str, identity: Identity, conf: t.Any
                         ) -> tuple[t.Any, bool]:
            return known, False

    response = HttpResponse("ok")
    token = fake.token("ada@example.com", GROUPS)
    request = RequestFactory().get("/", HTTP_X_POMERIUM_JWT_ASSERTION=token)
    request.user = AnonymousUser()  # what AuthenticationMiddleware would have set

    with_user = PomeriumMiddleware(lambda r: response)
    with_user.backend = PrefetchedBackend()
    identity_only = PomeriumMiddleware(lambda r: response)
    identity_only.backend = None
    number, repeat = args.number, args.repeat

    def run(middleware: PomeriumMiddleware) -> t.Callable[[], object]:
        return lambda: middleware(request)

    assert with_user(request) is response and request.user == known
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        for _ in range(number):
            with_user(request)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
        return
    results = {
        "middleware, identity only (no backend)": best_us(run(identity_only), number, repeat),
        "middleware + user mapping, query excluded": best_us(run(with_user), number, repeat),
        "ReadyVerifier.verify (subtracted: the stand-in's own cost)":
            best_us(lambda: ready.verify(token), number, repeat),
    }
    fresh = [fake.token("ada@example.com", GROUPS) for _ in range(2000)]
    tokens = iter(fresh * 10)
    results["for scale: Verifier.verify, a fresh ES256 token"] = best_us(
        lambda: real_verifier.verify(next(tokens)), 2000, 5)
    results["for scale: the hot-path query (SQLite in memory)"] = best_us(
        lambda: backend.get_user_for("ada@example.com", identity, conf), 2000, 5)

    print(f"Django {django.get_version()}, Python {sys.version.split()[0]}; "
          f"best of {repeat} x {number} calls")
    for label, value in results.items():
        print(f"  {value:8.2f} µs  {label}")
    beyond = (results["middleware + user mapping, query excluded"]
              - results["ReadyVerifier.verify (subtracted: the stand-in's own cost)"])
    verify = results["for scale: Verifier.verify, a fresh ES256 token"]
    print(f"cost beyond Verifier.verify, query excluded: {beyond:.2f} µs, "
          f"{beyond / verify:.1%} of a fresh verification on this machine now "
          f"(goal <= 10 µs: {'met' if beyond <= 10 else 'NOT met'})")


if __name__ == "__main__":
    main()
