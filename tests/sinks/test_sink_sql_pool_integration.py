"""A SQL target's pooled connections after the server closed them all (a restart; here: every session of the
pool terminated on the shared test stack's PostgreSQL and MariaDB, which must not be restarted): the next write
goes through at its first or second attempt, not after one failed attempt per dead connection (a new user's
sink failed 35 times over 3.5 minutes behind its circuit breaker), and no command is lost or applied twice.

Each adapter is driven directly, the way the sink's gate does (one attempt, then another), so the attempts
are counted exactly; its sessions are told apart by an application name (PostgreSQL) or a scratch database
(MariaDB), and only they are terminated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pymysql.cursors import DictCursor
from sql_pool_support import availability, target
from support.waiting import eventually, eventually_async

from streams.sinks.adapters.base import Adapter
from streams.sinks.adapters.mysql import MySqlAdapter
from streams.sinks.adapters.sql import SqlAdapter
from streams.sinks.config.model import TargetConfig
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand
from streams.stack.databases import crm_conninfo
from streams.stack.running import RunningStack

#: The sink's pool at its default concurrency (streams/sinks/adapters/builtin.py, MAX_CONNECTIONS).
POOL = 32


def command(sku: str, qty: int) -> SinkCommand:
    return availability(sku, qty, str(uuid.uuid4()))


async def attempts_until_applied(adapter: Adapter, command: SinkCommand,
                                 limit: int = POOL + 8) -> tuple[int, list[Failed]]:
    """How many attempts the command took, and the failures before it was applied (each transient)."""
    failures: list[Failed] = []
    for n in range(1, limit + 1):
        outcome = await adapter.attempt(command)
        if isinstance(outcome, Applied):
            return n, failures
        assert isinstance(outcome, Failed) and outcome.kind == "transient", outcome
        failures.append(outcome)
    pytest.fail(f"not applied after {limit} attempts; the last: {failures[-1].reason}")


async def fill(adapter: Adapter, tag: str) -> list[SinkCommand]:
    """As many commands at once as the pool has connections, so that it opens them all."""
    commands = [command(f"{tag}-fill-{n}", n) for n in range(POOL)]
    outcomes = await asyncio.gather(*(adapter.attempt(c) for c in commands))
    assert all(isinstance(o, Applied) for o in outcomes), outcomes
    return commands


@dataclass(frozen=True)
class Database:
    """One engine's side of the tests: its adapter on a scratch table, and its sessions as the server sees them."""

    config: TargetConfig
    #: The adapter, with extra options (``idle_check_s``).
    adapter: Callable[..., Adapter]
    #: Fill the adapter's pool (``fill``, or a variant).
    fill: Callable[[Adapter, str], Awaitable[list[SinkCommand]]]
    #: Terminate every session of the adapter's pool, wait until they are gone; how many there were.
    terminate: Callable[[], int]
    #: The table's rows (sku: quantity) and the idempotency keys recorded.
    written: Callable[[], tuple[dict[str, str], list[str]]]
    #: The failure of the first write when its connection was terminated (no idle check).
    error_type: str
    reason: str


def postgresql(stack: RunningStack, folder: Path, tag: str) -> Iterator[Database]:
    table, keys = f"public.pool_scratch_{tag}", f"public.pool_scratch_keys_{tag}"
    application = f"isthmus-pool-test-{tag}"
    config = target(folder, table, keys)
    conninfo = psycopg.conninfo.make_conninfo(crm_conninfo(stack.settings, stack.secrets),
                                              application_name=application)
    admin = stack.connect_crm(autocommit=True)

    def sessions() -> int:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                            (application,)).fetchone()
        return int(row[0]) if row else 0

    def terminate() -> int:
        found = sessions()
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                      (application,))
        eventually("the pool's sessions gone", lambda: sessions() == 0, timeout=15, every=0.1)
        return found

    def written() -> tuple[dict[str, str], list[str]]:
        rows = admin.execute(f"SELECT sku, available_qty FROM {table}").fetchall()
        return {sku: str(qty) for sku, qty in rows}, [k for (k,) in admin.execute(f"SELECT idem_key FROM {keys}")]

    admin.execute(f"CREATE TABLE {table} (sku TEXT PRIMARY KEY, available_qty NUMERIC(14, 3) NOT NULL)")
    try:
        yield Database(
            config, lambda **options: SqlAdapter(config, conninfo=conninfo, pool_size=POOL, shown="pool-test",
                                                 **options),
            fill, terminate, written, "AdminShutdown",
            "PostgreSQL pool-test: the connection was closed by the server (PostgreSQL restarted?): terminating "
            f"connection due to administrator command; all {POOL} pooled connections dropped; reconnecting")
    finally:
        admin.execute(f"DROP TABLE IF EXISTS {table}")
        admin.execute(f"DROP TABLE IF EXISTS {keys}")
        admin.close()


def mariadb(stack: RunningStack, folder: Path, tag: str) -> Iterator[Database]:
    database = f"isthmus_pool_{tag}"
    config = target(folder, f"{database}.availability", f"{database}.isthmus_sink_keys")
    connect = {"host": stack.settings.host, "port": stack.settings.erp_db_port, "user": stack.settings.db_user,
               "password": stack.secrets.erp_db_password.reveal(), "database": database}
    admin = stack.connect_erp(database="", autocommit=True, cursorclass=DictCursor)

    def query(statement: str, *params: Any) -> list[dict[str, Any]]:
        with admin.cursor() as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())

    def sessions() -> list[int]:  # the pool's: on its scratch database, the admin's own aside
        return [row["id"] for row in query("SELECT id FROM information_schema.processlist WHERE db = %s AND "
                                           "id <> CONNECTION_ID()", database)]

    async def locked_fill(adapter: Adapter, tag: str) -> list[SinkCommand]:
        """``fill``, the table locked meanwhile: each transaction waits holding its connection, so the pool opens
        them all (without, quick transactions give theirs back to the next ones, and it opens fewer)."""
        async def opened() -> bool:
            return len(sessions()) == POOL

        query(f"LOCK TABLES `{database}`.availability WRITE")
        filling = asyncio.ensure_future(fill(adapter, tag))
        try:
            await eventually_async("the pool's connections open", opened, timeout=30, every=0.1)
        finally:
            query("UNLOCK TABLES")
        return await filling

    def terminate() -> int:
        found = sessions()
        for session in found:
            query(f"KILL CONNECTION {int(session)}")
        eventually("the pool's sessions gone", lambda: not sessions(), timeout=15, every=0.1)
        return len(found)

    def written() -> tuple[dict[str, str], list[str]]:
        rows = query(f"SELECT sku, available_qty FROM `{database}`.availability")
        keys = query(f"SELECT idem_key FROM `{database}`.isthmus_sink_keys")
        return {r["sku"]: str(r["available_qty"]) for r in rows}, [k["idem_key"] for k in keys]

    query(f"CREATE DATABASE `{database}`")
    query(f"CREATE TABLE `{database}`.availability (sku VARCHAR(60) NOT NULL PRIMARY KEY, "
          "available_qty DECIMAL(14,3) NOT NULL)")
    try:
        yield Database(
            config, lambda **options: MySqlAdapter(config, connect=connect, pool_size=POOL, shown="pool-test",
                                                   **options),
            locked_fill, terminate, written, "OperationalError",
            "MariaDB pool-test: the connection was lost (MariaDB restarted, or a network reset?): (2013, 'Lost "
            f"connection to MySQL server during query'); all {POOL} pooled connections dropped; reconnecting")
    finally:
        query(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def database(request: pytest.FixtureRequest, stack: RunningStack, tmp_path: Path) -> Iterator[Database]:
    engine = {"postgresql": postgresql, "mariadb": mariadb}[request.param]
    yield from engine(stack, tmp_path, uuid.uuid4().hex[:10])


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``scenario`` with a thread per pooled connection: the MariaDB adapter runs each transaction in a worker
    thread, and the default executor's few threads (CPUs + 4) would never open the whole pool."""

    async def threaded() -> Any:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=POOL))
        return await scenario()

    return asyncio.run(threaded())


def test_a_pool_whose_sessions_were_all_terminated_writes_again_at_once(database: Database) -> None:
    tag = uuid.uuid4().hex[:8]

    async def scenario() -> tuple[list[SinkCommand], list[tuple[int, list[Failed]]], int]:
        adapter = database.adapter()
        await adapter.start()
        try:
            commands = await database.fill(adapter, tag)
            terminated = database.terminate()
            after = [command(f"{tag}-after-{n}", 100 + n) for n in range(4)]
            tries = [await attempts_until_applied(adapter, c) for c in after]
            return commands + after, tries, terminated
        finally:
            await adapter.close()

    commands, tries, terminated = run(scenario)
    assert terminated == POOL, f"the pool held {terminated} sessions, not {POOL}"
    assert tries[0][0] <= 2, (f"the first write after the sessions ended took {tries[0][0]} attempts: one per dead "
                              f"pooled connection; the first failure: {tries[0][1][0].reason}")
    assert [n for n, _ in tries[1:]] == [1, 1, 1], "the writes after it did not get fresh connections"
    rows, keys = database.written()
    assert rows == {c.payload["sku"]: c.payload["available_qty"] for c in commands}, "a command was lost"
    assert sorted(keys) == sorted(c.idempotency_key for c in commands), "a key was lost or recorded twice"


@pytest.mark.parametrize("idle_check_s", [3600.0, 0.0], ids=["failure-drops-all", "idle-check"])
def test_a_connection_failure_drops_every_pooled_connection_and_an_idle_one_is_checked(
        database: Database, idle_check_s: float) -> None:
    """Without the idle check (a connection used a moment ago) the first write fails, says what happened and drops
    the whole pool, and the second goes through; with it, the first goes through on a fresh connection."""
    tag = uuid.uuid4().hex[:8]

    async def scenario() -> tuple[int, list[Failed]]:
        adapter = database.adapter(idle_check_s=idle_check_s)
        await adapter.start()
        try:
            await database.fill(adapter, tag)
            database.terminate()
            return await attempts_until_applied(adapter, command(f"{tag}-after", 7))
        finally:
            await adapter.close()

    n, failures = run(scenario)
    if idle_check_s:
        assert n == 2
        [failed] = failures
        assert (failed.error_type, failed.reason) == (database.error_type, database.reason)
    else:
        assert (n, failures) == (1, [])
