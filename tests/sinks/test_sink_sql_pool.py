"""A SQL target's pool after the server closed its connections: which failures are the connection's (by the
driver's exception type, SQLSTATE or errno, never by the message), the bookkeeping that drops every connection
then and checks one that waited, and the PostgreSQL adapter over connections that a restart killed (the real
servers: test_sink_sql_pool_integration.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import errors as pg_errors
from sql_pool_support import availability as command
from sql_pool_support import target

from streams.sinks.adapters import mysql, sql
from streams.sinks.adapters.sql_pool import ConnectionPool, lost_reason
from streams.sinks.config.model import TargetConfig
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand

SHUTDOWN = "terminating connection due to administrator command"


@pytest.mark.parametrize(("exc", "what"), [
    (pg_errors.AdminShutdown(SHUTDOWN), "the connection was closed by the server (PostgreSQL restarted?)"),
    (pg_errors.CrashShutdown("terminating connection because of crash of another server process"),
     "the connection was closed by the server (PostgreSQL restarted after a crash?)"),
    (pg_errors.CannotConnectNow("the database system is starting up"), "PostgreSQL is starting up or shutting down"),
    (pg_errors.IdleSessionTimeout("terminating connection due to idle-session timeout"),
     "the connection was closed by the server (idle_session_timeout)"),
    (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
     "the connection to the server failed or was lost (PostgreSQL down or restarting, or a network reset?)"),
    (pg_errors.ConnectionFailure("could not send data to server"),
     "the connection to the server failed or was lost (PostgreSQL down or restarting, or a network reset?)"),
    (pg_errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"),
     "PostgreSQL takes no writes (a standby: a replica, or a primary demoted in a failover?)"),
])
def test_a_postgresql_connection_failure_is_told_by_its_type_and_sqlstate(exc: Exception, what: str) -> None:
    assert sql.connection_lost(exc) == what


@pytest.mark.parametrize("exc", [
    pg_errors.SerializationFailure("could not serialize access"), pg_errors.DeadlockDetected("deadlock detected"),
    pg_errors.QueryCanceled("canceling statement due to statement timeout"),
    pg_errors.LockNotAvailable("could not obtain lock"), pg_errors.TooManyConnections("too many clients already"),
    pg_errors.InvalidPassword("password authentication failed"), pg_errors.UniqueViolation("duplicate key"),
    pg_errors.PipelineAborted("pipeline aborted"),
    pg_errors.QueryCanceled(f"{SHUTDOWN}, said a statement's text"),  # the text is never read
    ValueError(SHUTDOWN),
])
def test_a_postgresql_failure_of_the_statement_leaves_the_pool_alone(exc: Exception) -> None:
    assert sql.connection_lost(exc) is None


@pytest.mark.parametrize(("errno", "what"), [
    (2013, "the connection was lost (MariaDB restarted, or a network reset?)"),
    (2006, "the connection was closed by the server (MariaDB restarted?)"),
    (1927, "the connection was killed on the server (MariaDB restarting?)"),
    (1053, "MariaDB is shutting down"),
    (2003, "could not connect (MariaDB down or restarting?)"),
    (4031, "the connection was closed by the server (idle longer than its wait_timeout)"),
    (1290, "MariaDB takes no writes (read-only: a replica, or a primary demoted in a failover?)"),
    (1836, "MariaDB takes no writes (read-only: a replica, or a primary demoted in a failover?)"),
])
def test_a_mariadb_connection_failure_is_told_by_its_errno(errno: int, what: str) -> None:
    assert mysql.connection_lost(pymysql.err.OperationalError(errno, "Lost connection to MySQL server")) == what
    assert mysql.connection_lost(pymysql.err.OperationalError(errno, "x"), "MySQL") == what.replace("MariaDB", "MySQL")


@pytest.mark.parametrize("exc", [
    pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), pymysql.err.OperationalError(1213, "Deadlock"),
    pymysql.err.OperationalError(1040, "Too many connections"),
    pymysql.err.IntegrityError(2013, "an IntegrityError is never the connection's, whatever its number"),
    pymysql.err.IntegrityError(1062, "Duplicate entry"), pymysql.err.InterfaceError(0, ""),
    pymysql.err.OperationalError(), OSError("MySQL server has gone away"),
])
def test_a_mariadb_failure_of_the_statement_leaves_the_pool_alone(exc: Exception) -> None:
    assert mysql.connection_lost(exc) is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_pool_reuses_the_connection_used_last_and_checks_one_that_waited() -> None:
    clock = Clock()
    pool: ConnectionPool[str] = ConnectionPool(idle_check_s=1.0, clock=clock)
    assert pool.take() is None
    a, b = pool.add("a"), pool.add("b")
    assert pool.give_back(a) and pool.give_back(b) and pool.held == 2
    clock.now += 0.5
    taken = pool.take()
    assert taken is not None and (taken[0].conn, taken[1]) == ("b", False)
    clock.now += 0.6
    taken = pool.take()
    assert taken is not None and (taken[0].conn, taken[1]) == ("a", True), "idle 1.1 s: checked before use"
    pool.discard(taken[0])
    assert pool.held == 1


def test_dropping_the_pool_closes_the_idle_and_retires_those_in_use() -> None:
    pool: ConnectionPool[str] = ConnectionPool(clock=Clock())
    entries = [pool.add(name) for name in "abcd"]
    for entry in entries[:3]:
        pool.give_back(entry)
    taken = pool.take()
    assert taken is not None
    idle, held = pool.drop_all()
    assert (sorted(idle), held) == (["a", "b"], 4), "the two idle to close; four held: c and d were in use"
    assert not pool.give_back(entries[3]) and not pool.give_back(taken[0]), "in use at the drop: closed on return"
    pool.discard(entries[3])
    assert pool.held == 0 and pool.take() is None
    fresh = pool.add("e")
    assert pool.give_back(fresh) and pool.held == 1


def test_a_lost_connection_says_what_happened_and_what_the_pool_did() -> None:
    what = "the connection was closed by the server (PostgreSQL restarted?)"
    exc = pg_errors.AdminShutdown(SHUTDOWN)
    assert lost_reason(what, exc, 32) == f"{what}: {SHUTDOWN}; all 32 pooled connections dropped; reconnecting"
    assert lost_reason(what, exc, 1) == f"{what}: {SHUTDOWN}; its pooled connection dropped; reconnecting"
    assert lost_reason(what, exc, 0) == f"{what}: {SHUTDOWN}; reconnecting"


class FakeConnection:
    """An ``AsyncConnection`` as ``SqlAdapter`` uses it: every statement answers one inserted row, until the server
    goes (``dead``): then every statement fails as PostgreSQL's shutdown makes it fail."""

    def __init__(self) -> None:
        self.dead = False
        self.closed = False
        self.autocommit = False

    async def execute(self, query: Any, params: Any = None) -> FakeConnection:
        await asyncio.sleep(0)  # a round trip: other attempts run meanwhile
        if self.dead or self.closed:
            self.closed = True
            raise pg_errors.AdminShutdown(SHUTDOWN)
        return self

    rowcount = 1

    async def fetchone(self) -> dict[str, Any]:
        return {"sku": "S-1", "isthmus_inserted": True}

    async def set_autocommit(self, value: bool) -> None:
        self.autocommit = value

    async def commit(self) -> None:
        await self.execute("COMMIT")

    async def rollback(self) -> None:
        await self.execute("ROLLBACK")

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def config(tmp_path: Path) -> TargetConfig:
    return target(tmp_path, "public.stock_level")


def availability(n: int) -> SinkCommand:
    return command(f"S-{n}", n, f"c{n}")


def test_after_a_restart_the_first_write_fails_once_and_the_second_gets_a_fresh_connection(
        config: TargetConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new user's case: 32 pooled connections, PostgreSQL restarted under them. The first write fails saying so
    and drops the pool, the second connects anew: not 32 failures, one per dead connection."""
    opened: list[FakeConnection] = []

    async def connect() -> FakeConnection:
        opened.append(FakeConnection())
        return opened[-1]

    async def scenario() -> list[Applied | Failed]:
        adapter = sql.SqlAdapter(config, conninfo="", pool_size=32, shown="127.0.0.1:33432/billing")
        monkeypatch.setattr(adapter, "_connect", connect)
        filled = await asyncio.gather(*(adapter.attempt(availability(n)) for n in range(32)))
        assert all(isinstance(outcome, Applied) for outcome in filled) and len(opened) == 32
        for conn in opened:
            conn.dead = True
        outcomes: list[Applied | Failed] = []
        while not outcomes or (isinstance(outcomes[-1], Failed) and len(outcomes) < 40):
            outcome = await adapter.attempt(availability(99))
            assert isinstance(outcome, (Applied, Failed))
            outcomes.append(outcome)
        return outcomes

    outcomes = asyncio.run(scenario())
    assert [type(o).__name__ for o in outcomes] == ["Failed", "Applied"]
    failed = outcomes[0]
    assert isinstance(failed, Failed) and failed.kind == "transient" and failed.error_type == "AdminShutdown"
    assert failed.reason == ("PostgreSQL 127.0.0.1:33432/billing: the connection was closed by the server (PostgreSQL "
                             f"restarted?): {SHUTDOWN}; all 32 pooled connections dropped; reconnecting")
    assert all(conn.closed for conn in opened[:32]), "every dead connection was closed"
    assert len(opened) == 33


def test_an_idle_connection_that_waited_is_checked_and_the_first_write_goes_through(
        config: TargetConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    opened: list[FakeConnection] = []

    async def connect() -> FakeConnection:
        opened.append(FakeConnection())
        return opened[-1]

    async def scenario() -> Applied | Failed:
        adapter = sql.SqlAdapter(config, conninfo="", pool_size=4, shown="pg:5432/billing", idle_check_s=0.0)
        monkeypatch.setattr(adapter, "_connect", connect)
        await asyncio.gather(*(adapter.attempt(availability(n)) for n in range(4)))
        for conn in opened:
            conn.dead = True
        outcome = await adapter.attempt(availability(99))
        assert isinstance(outcome, (Applied, Failed))
        return outcome

    assert isinstance(asyncio.run(scenario()), Applied)
    assert len(opened) == 5 and all(conn.closed for conn in opened[:4])
    assert ("sink ledgerhub: PostgreSQL pg:5432/billing: an idle connection's check found the connection was closed "
            f"by the server (PostgreSQL restarted?): {SHUTDOWN}; all 4 pooled connections dropped; reconnecting"
            ) in caplog.text
