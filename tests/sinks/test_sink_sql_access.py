"""A SQL target's server refusing the sink's account, not a command (a password rotated on the server, a grant
revoked): every command waits and is retried as in an outage, the refusal is said once and counted, and none is
dead-lettered as bad data; and the password, given as a reference to a secrets file, is read again for each new
connection, so a rotation needs no restart. The real server: test_sink_sql_access_integration.py."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import errors as pg_errors
from sql_pool_support import SYSTEM, availability, target
from support.systems import reference_with, system

from streams.config.endpoints import EndpointSettings
from streams.sinks.adapters import mysql, sql
from streams.sinks.adapters.builtin import build_sql
from streams.sinks.adapters.session import LoginRefused
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.delivery import Deliverer, RetryPolicy
from streams.sinks.environment import SinkEnvironment
from streams.sinks.exceptions import TargetUnreachable
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand
from streams.sinks.settings import SinkSettings
from streams.systems import Engine

DENIED = "Access denied for user 'ledger_writer'@'10.0.0.7' (using password: YES)"


def refusing_mariadb(monkeypatch: pytest.MonkeyPatch, errno: int, words: str = DENIED) -> list[dict[str, Any]]:
    """PyMySQL's connect refused with ``errno``; the arguments of each connect."""
    opened: list[dict[str, Any]] = []

    def connect(**kwargs: Any) -> Any:
        opened.append(kwargs)
        raise pymysql.err.OperationalError(errno, words)

    monkeypatch.setattr(mysql.pymysql, "connect", connect)
    return opened


def mariadb(tmp_path: Path, connect: Any = None) -> mysql.MySqlAdapter:
    return mysql.MySqlAdapter(target(tmp_path, "ledger.availability"), pool_size=2, shown="ledger-db:3306/ledger",
                              connect=connect or {"host": "ledger-db", "user": "ledger_writer", "password": "old"})


@pytest.mark.parametrize(("errno", "status"), [
    (1045, 401), (1698, 401), (1130, 401), (1862, 401), (4151, 401), (3118, 401),
    (1044, 403), (1142, 403), (1143, 403), (1227, 403),
])
def test_a_mariadb_refusal_of_the_account_is_transient_and_names_the_user_and_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errno: int, status: int) -> None:
    refusing_mariadb(monkeypatch, errno)
    outcome = asyncio.run(mariadb(tmp_path).attempt(availability("SKU-1", 3, "c-1")))
    assert isinstance(outcome, Failed), outcome
    assert (outcome.kind, outcome.status) == ("transient", status), outcome.reason
    assert "ledger-db:3306/ledger" in outcome.reason and "user ledger_writer" in outcome.reason
    assert "fix the data" not in outcome.reason
    assert ("password" if status == 401 else "GRANT") in outcome.reason.partition("fix:")[2]


def test_a_mariadb_error_of_the_data_stays_permanent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refusing_mariadb(monkeypatch, 1366, "Incorrect integer value: 'x' for column 'available_qty'")
    outcome = asyncio.run(mariadb(tmp_path).attempt(availability("SKU-1", 3, "c-1")))
    assert isinstance(outcome, Failed) and (outcome.kind, outcome.status) == ("permanent", None), outcome


LOGIN_FAILED = ('connection failed: connection to server at "10.0.0.8", port 5432 failed: FATAL:  password '
                'authentication failed for user "ledger_writer"')


@pytest.mark.parametrize(("exc", "status"), [
    (psycopg.OperationalError(LOGIN_FAILED), 401),
    (psycopg.OperationalError('connection failed: FATAL:  no pg_hba.conf entry for host "10.0.0.7", user '
                              '"ledger_writer", database "ledger"'), 401),
    (pg_errors.InvalidPassword("password authentication failed"), 401),
    (pg_errors.InsufficientPrivilege("permission denied for table availability"), 403),
    (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"), None),
    (pg_errors.UniqueViolation("duplicate key"), None),
])
def test_a_postgresql_refusal_of_the_account_is_told_apart(exc: Exception, status: int | None) -> None:
    assert sql.access_status(exc) == status
    if status is not None:
        assert sql.connection_lost(exc) is None, "a refused login is no lost connection"


def test_a_postgresql_refused_login_is_transient_and_names_the_user_and_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise psycopg.OperationalError(LOGIN_FAILED)

    monkeypatch.setattr(sql.psycopg.AsyncConnection, "connect", refused)
    adapter = sql.SqlAdapter(target(tmp_path, "ledger.availability"), pool_size=2, shown="ledger-db:5432/ledger",
                             conninfo="host=ledger-db user=ledger_writer password=old dbname=ledger")
    outcome = asyncio.run(adapter.attempt(availability("SKU-1", 3, "c-1")))
    assert isinstance(outcome, Failed) and (outcome.kind, outcome.status) == ("transient", 401), outcome
    assert outcome.reason.startswith("PostgreSQL ledger-db:5432/ledger refuses the login of user ledger_writer (")


class RotatedAfter:
    """The MariaDB adapter, refused until the operator gives it the new password after ``refusals`` attempts."""

    def __init__(self, adapter: mysql.MySqlAdapter, refusals: int) -> None:
        self.adapter, self.refusals, self.attempts = adapter, refusals, 0

    async def attempt(self, command: SinkCommand) -> Attempt:
        self.attempts += 1
        if self.attempts > self.refusals:
            return Applied(status=201, body={"sku": command.entity_key})
        return await self.adapter.attempt(command)


def test_a_rotated_password_holds_the_commands_says_so_once_and_dead_letters_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    refusing_mariadb(monkeypatch, 1045)
    config = target(tmp_path, "ledger.availability")
    adapter = RotatedAfter(mariadb(tmp_path), refusals=4)

    async def run() -> tuple[list[Any], Deliverer]:
        deliverer = Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=2, reset_s=0.01)),
                              config=config, rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0)))
        return [await deliverer.deliver(availability(f"SKU-{n}", n, f"c-{n}")) for n in range(2)], deliverer

    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        delivered, deliverer = asyncio.run(run())
    assert [type(d.outcome) for d in delivered] == [Applied, Applied], [d.outcome for d in delivered]
    assert deliverer.gate.breaker.opened_count >= 1, "held like an outage, behind the breaker"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"sink {SYSTEM}: {SYSTEM.upper()} refuses Isthmus's credentials: MariaDB "
                                "ledger-db:3306/ledger refuses the login of user ledger_writer ((1045, ")
    assert "no command is dead-lettered for it" in errors[0] and "endpoints.databases" in errors[0]
    credentials = deliverer.credentials
    assert (credentials.refusing, credentials.outages, credentials.answers) == (False, 1, 4)


def written_secret(path: Path, password: str) -> None:
    path.write_text(f"# the operator's secrets\nledger.db.password={password}\n", encoding="utf-8")


def environment(tmp_path: Path, engine: Engine, server: str) -> SinkEnvironment:
    endpoints = EndpointSettings.model_validate({"databases": {engine.value: server}})
    return SinkEnvironment(sink=SinkSettings(), endpoints=endpoints, env={},
                           systems=reference_with(system(SYSTEM, engine=engine, writable=True,
                                                         target=tmp_path / f"{SYSTEM}.yaml")))


def test_a_mariadb_password_rotated_in_its_secrets_file_reaches_the_next_connection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.properties"
    written_secret(secrets, "old-one")
    opened = refusing_mariadb(monkeypatch, 1045)
    server = f"host=ledger-db port=3306 user=ledger_writer password=${{file:{secrets}:ledger.db.password}}"
    adapter = build_sql(target(tmp_path, "ledger.availability"), environment(tmp_path, Engine.MARIADB, server))

    asyncio.run(adapter.attempt(availability("SKU-1", 3, "c-1")))
    written_secret(secrets, "new-one")  # the operator rotated it; the sink runs on
    asyncio.run(adapter.attempt(availability("SKU-1", 3, "c-1")))
    assert [o["password"] for o in opened] == ["old-one", "new-one"]


def test_a_postgresql_password_rotated_in_its_secrets_file_reaches_the_next_connection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.properties"
    written_secret(secrets, "old-one")
    opened: list[str] = []

    async def refused(conninfo: str, **kwargs: Any) -> Any:
        opened.append(psycopg.conninfo.conninfo_to_dict(conninfo)["password"])
        raise psycopg.OperationalError(LOGIN_FAILED)

    monkeypatch.setattr(sql.psycopg.AsyncConnection, "connect", refused)
    server = f"host=ledger-db user=ledger_writer password=${{file:{secrets}:ledger.db.password}}"
    adapter = build_sql(target(tmp_path, "ledger.availability"), environment(tmp_path, Engine.POSTGRESQL, server))

    asyncio.run(adapter.attempt(availability("SKU-1", 3, "c-1")))
    written_secret(secrets, "new-one")
    asyncio.run(adapter.attempt(availability("SKU-1", 3, "c-1")))
    assert opened == ["old-one", "new-one"]


@pytest.mark.parametrize("start", ["start", "log_in"])
def test_a_mariadb_login_refused_at_start_stops_the_sink_naming_the_user_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: str) -> None:
    refusing_mariadb(monkeypatch, 1045)
    adapter = mariadb(tmp_path)
    with pytest.raises(LoginRefused) as refused:
        asyncio.run(getattr(adapter, start)())
    assert str(refused.value).startswith(f"{tmp_path / SYSTEM}.yaml: MariaDB ledger-db:3306/ledger refuses the "
                                         "login of user ledger_writer ((1045, ")
    assert "fix: give Isthmus the account's current password" in str(refused.value)


@pytest.mark.parametrize("start", ["start", "log_in"])
def test_a_postgresql_login_refused_at_start_stops_the_sink_naming_the_user_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: str) -> None:
    async def refused(conninfo: str, **kwargs: Any) -> Any:
        raise psycopg.OperationalError(LOGIN_FAILED)

    monkeypatch.setattr(sql.psycopg.AsyncConnection, "connect", refused)
    adapter = sql.SqlAdapter(target(tmp_path, "public.availability"), conninfo="host=ledger-db user=ledger_writer",
                             shown="ledger-db:5432/ledger", pool_size=2)
    with pytest.raises(LoginRefused) as refused_login:
        asyncio.run(getattr(adapter, start)())
    assert str(refused_login.value).startswith(f"{tmp_path / SYSTEM}.yaml: PostgreSQL ledger-db:5432/ledger refuses "
                                               "the login of user ledger_writer (")


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_a_server_not_reached_at_start_stops_the_sink_saying_so_without_promising_a_reconnect(
        tmp_path: Path, engine: str) -> None:
    with socket.socket() as unused:  # a port nothing listens on: the connect is refused at once
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    config = target(tmp_path, "ledger.availability")
    adapter: sql.SqlAdapter | mysql.MySqlAdapter = (
        sql.SqlAdapter(config, conninfo=f"host=127.0.0.1 port={port} user=ledger_writer", shown=f"db:{port}/ledger",
                       pool_size=2)
        if engine == "postgresql" else
        mysql.MySqlAdapter(config, connect={"host": "127.0.0.1", "port": port, "user": "ledger_writer"},
                           shown=f"db:{port}/ledger", pool_size=2))
    with pytest.raises(TargetUnreachable) as unreachable:
        asyncio.run(adapter.start())
    words = str(unreachable.value)
    name = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}[engine]
    assert words.startswith(f"{config.path}: {name} db:{port}/ledger cannot be reached ("), words
    assert words.endswith("fix: start the database, or correct the target's connection settings, then start the "
                          "sink again"), words
    assert "reconnecting" not in words
