"""A SQL target's server that takes no writes for a while (a replica, or a primary demoted in a failover): each
write is held as a transient failure that says so, never dead-lettered as the data's fault, and applied once when
the server takes writes again, on a fresh connection.

The real servers of the shared test stack, which must stay writable for everyone else. PostgreSQL: a failover
ends the sessions of the old primary and a new session reaches a standby, here a role of this test's own whose
sessions are ended and whose new ones are read-only (``default_transaction_read_only``: the SQLSTATE 25006 a hot
standby answers). MariaDB runs ``read_only`` for a moment, which binds the stack's own account too (it has no
``READ_ONLY ADMIN``), so nothing else may write meanwhile: the integration tests run one at a time. Both need the
local stack's superusers, reached through its sockets."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pymysql.cursors import DictCursor
from sql_pool_support import availability, target

from streams.sinks.adapters.base import Adapter
from streams.sinks.adapters.mysql import MySqlAdapter
from streams.sinks.adapters.sql import SqlAdapter
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.stack.progress import Progress
from streams.stack.running import RunningStack
from streams.stack.services.base import ServiceContext
from streams.stack.services.crm_db import CrmDatabase
from streams.stack.services.erp_db import ErpDatabase


@dataclass(frozen=True)
class ReadOnlyServer:
    """One engine's side: an adapter writing a scratch table as an account the server can make read-only."""

    adapter: Callable[[], Adapter]
    #: Make the server take no writes (True) or take them again (False).
    read_only: Callable[[bool], None]
    rows: Callable[[], dict[str, str]]
    reason: str


def postgresql(stack: RunningStack, context: ServiceContext, folder: Path, tag: str) -> Iterator[ReadOnlyServer]:
    role, password = f"isthmus_ro_{tag}", secrets.token_urlsafe(16)
    table = f"public.read_only_{tag}"
    admin = CrmDatabase(context).superuser(stack.settings.crm_db_name)
    admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    admin.execute(f"CREATE TABLE {table} (sku TEXT PRIMARY KEY, available_qty NUMERIC(14, 3) NOT NULL)")
    admin.execute(f"CREATE TABLE {table}_keys (idem_key TEXT PRIMARY KEY, command_id TEXT NOT NULL, "
                  "target_table TEXT NOT NULL, entity_key TEXT NOT NULL, status INT NOT NULL, response JSONB, "
                  "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table}, {table}_keys TO {role}")
    admin.execute(f"GRANT CREATE ON SCHEMA public TO {role}")  # the adapter's CREATE TABLE IF NOT EXISTS of its keys
    conninfo = psycopg.conninfo.make_conninfo(host=stack.settings.host, port=stack.settings.crm_db_port, user=role,
                                              password=password, dbname=stack.settings.crm_db_name)
    config = target(folder, table, f"{table}_keys")

    def read_only(on: bool) -> None:  # binds new sessions only: the pool's must be dropped to see it end
        if on:
            admin.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        else:
            admin.execute(f"ALTER ROLE {role} RESET default_transaction_read_only")

    def rows() -> dict[str, str]:
        return {sku: str(qty) for sku, qty in admin.execute(f"SELECT sku, available_qty FROM {table}").fetchall()}

    try:
        yield ReadOnlyServer(lambda: SqlAdapter(config, conninfo=conninfo, pool_size=4, shown="ro-test"),
                             read_only, rows,
                             "PostgreSQL ro-test: PostgreSQL takes no writes (a standby: a replica, or a primary "
                             "demoted in a failover?): cannot execute INSERT in a read-only transaction")
    finally:
        admin.execute(f"DROP TABLE IF EXISTS {table}, {table}_keys")
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        admin.execute(f"DROP OWNED BY {role}")  # its grants
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


def mariadb(stack: RunningStack, context: ServiceContext, folder: Path, tag: str) -> Iterator[ReadOnlyServer]:
    database = f"isthmus_ro_{tag}"  # a scratch database of the stack's account (streams/stack/services/erp_db.py)
    admin = stack.connect_erp(database="", autocommit=True, cursorclass=DictCursor)

    def query(statement: str) -> list[dict[str, object]]:
        with admin.cursor() as cursor:
            cursor.execute(statement)
            return list(cursor.fetchall())

    query(f"CREATE DATABASE `{database}`")
    query(f"CREATE TABLE `{database}`.availability (sku VARCHAR(60) NOT NULL PRIMARY KEY, "
          "available_qty DECIMAL(14,3) NOT NULL)")
    connect = {"host": stack.settings.host, "port": stack.settings.erp_db_port, "user": stack.settings.db_user,
               "password": stack.secrets.erp_db_password.reveal(), "database": database}
    config = target(folder, f"{database}.availability", f"{database}.isthmus_sink_keys")

    def read_only(on: bool) -> None:
        with ErpDatabase(context).root() as root, root.cursor() as cursor:
            cursor.execute(f"SET GLOBAL read_only = {'ON' if on else 'OFF'}")

    def rows() -> dict[str, str]:
        return {str(r["sku"]): str(r["available_qty"])
                for r in query(f"SELECT sku, available_qty FROM `{database}`.availability")}

    try:
        yield ReadOnlyServer(lambda: MySqlAdapter(config, connect=connect, pool_size=4, shown="ro-test"),
                             read_only, rows,
                             "MariaDB ro-test: MariaDB takes no writes (read-only: a replica, or a primary demoted "
                             "in a failover?): (1290, 'The MariaDB server is running with the --read-only option "
                             "so it cannot execute this statement')")
    finally:
        read_only(False)
        query(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest, stack: RunningStack, tmp_path: Path) -> Iterator[ReadOnlyServer]:
    if os.environ.get("ISTHMUS_STACK", "local") != "local":
        pytest.skip("making a server read-only needs the local stack's superusers, reached through its sockets")
    context = ServiceContext(settings=stack.settings, secrets=stack.secrets, toolchain=None, progress=Progress())
    engine = {"postgresql": postgresql, "mariadb": mariadb}[request.param]
    yield from engine(stack, context, tmp_path, uuid.uuid4().hex[:10])


def test_writes_wait_while_the_server_takes_none_and_are_applied_once_after(server: ReadOnlyServer) -> None:
    held = availability(f"{uuid.uuid4().hex[:8]}-held", 2, str(uuid.uuid4()))

    async def scenario() -> tuple[list[Attempt], Attempt, Attempt]:
        adapter = server.adapter()
        await adapter.start()
        try:
            server.read_only(True)
            try:  # PostgreSQL: the first attempt finds its connection ended, the second reaches the "standby"
                refused = [await adapter.attempt(held) for _ in range(3)]
            finally:
                server.read_only(False)
            return refused, await adapter.attempt(held), await adapter.attempt(held)
        finally:
            await adapter.close()

    refused, applied, again = asyncio.run(scenario())
    for outcome in refused:
        assert isinstance(outcome, Failed), f"a write went through while the server took none: {outcome}"
        assert outcome.kind == "transient", f"a read-only server's refusal was taken for the data's: {outcome}"
    said = refused[-1]
    assert isinstance(said, Failed) and said.reason.startswith(server.reason), said
    assert isinstance(applied, Applied) and not applied.replayed, (
        f"the first write after the server took writes again was not applied (a read-only connection kept?): "
        f"{applied}")
    assert isinstance(again, Applied) and again.replayed, "the same command was applied twice"
    assert server.rows() == {held.payload["sku"]: "2.000"}
