"""Fixtures for the integration tests: a real redis-server, RedisCache clients, and the
fault table printed at the end of the run (what clients saw under each fault)."""

from __future__ import annotations

import typing as t

import pytest

from .support import FaultRow, RedisServer, Tally, find_redis_server

#: Rows collected by the ``record_fault`` fixture during the run.
FAULT_ROWS: list[FaultRow] = []


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port, killed in teardown.

    Skips (with the reason) when the redis-server binary is not installed: these tests
    are about a real server and have nothing meaningful to run without one.
    """
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_cache(redis_server: RedisServer) -> t.Callable[[], t.Any]:
    """Make a cachelib RedisCache on the test's server, as one worker process would.

    Each call builds its own client (own connection pool), like separate workers. The
    short socket timeouts and the single immediate retry keep a dead or frozen Redis
    from stalling a request: redis-py's default policy retries ten times with backoff,
    about 4.5 s per cache call against a dead server (the setting the README shows).
    """
    from cachelib.redis import RedisCache
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    def make() -> t.Any:
        return RedisCache(host="127.0.0.1", port=redis_server.port, key_prefix="pw:",
                          socket_timeout=0.5, socket_connect_timeout=0.5,
                          retry=Retry(NoBackoff(), 1))

    return make


@pytest.fixture
def record_fault(request: pytest.FixtureRequest) -> t.Callable[[str, Tally, str], None]:
    """Record one row of the fault table: the fault, client outcomes, JWKS fetches."""

    def record(fault: str, tally: Tally, fetches: str) -> None:
        FAULT_ROWS.append(FaultRow(fault, str(tally), fetches, tally.lost,
                                   f"pytest '{request.node.nodeid}'"))

    return record


def pytest_terminal_summary(terminalreporter: t.Any) -> None:
    """Print the fault table when any fault was recorded in this run."""
    if not FAULT_ROWS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault table")
    write("| fault | what clients saw | JWKS fetches | lost | command |")
    write("|---|---|---|---|---|")
    for row in FAULT_ROWS:
        write(f"| {row.fault} | {row.clients} | {row.fetches} | {row.lost} | `{row.test}` |")
