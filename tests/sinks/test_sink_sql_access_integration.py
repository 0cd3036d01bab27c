"""The shared test stack's MariaDB refusing a sink whose password is wrong (as after a rotation on the server):
the command is held and retried, the refusal said once and counted, nothing dead-lettered; once the secrets file
the password is read from holds the right one, the next connection reads it and the command is applied, with no
restart. The stack user's real password is never changed: the adapter reads a wrong one from a file of its own."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from pymysql.cursors import DictCursor
from sql_pool_support import SYSTEM, availability, target

from streams.config.endpoints import mysql_connect, resolved
from streams.sinks.adapters.mysql import MySqlAdapter
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Attempt
from streams.sinks.records import SinkCommand
from streams.stack.running import RunningStack

KEY = "ledger.db.password"


class Operator:
    """Puts the right password in the secrets file after the adapter was refused ``refusals`` times."""

    def __init__(self, adapter: MySqlAdapter, secrets: Path, password: str, refusals: int) -> None:
        self.adapter, self.secrets, self.password, self.refusals = adapter, secrets, password, refusals
        self.attempts = 0

    async def attempt(self, command: SinkCommand) -> Attempt:
        self.attempts += 1
        if self.attempts == self.refusals + 1:
            self.secrets.write_text(f"{KEY}={self.password}\n", encoding="utf-8")
        return await self.adapter.attempt(command)

    def describe(self) -> str:
        return self.adapter.describe()

    async def start(self) -> None:
        await self.adapter.start()

    async def close(self) -> None:
        await self.adapter.close()


def test_a_wrong_mariadb_password_holds_the_write_until_the_secrets_file_has_the_right_one(
        stack: RunningStack, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = f"isthmus_access_{uuid.uuid4().hex[:10]}"
    config = target(tmp_path, f"{database}.availability", f"{database}.isthmus_sink_keys")
    secrets = tmp_path / "secrets.properties"
    right = stack.secrets.erp_db_password.reveal()
    secrets.write_text(f"{KEY}={right}\n", encoding="utf-8")
    server = (f"host={stack.settings.host} port={stack.settings.erp_db_port} user={stack.settings.db_user} "
              f"password=${{file:{secrets}:{KEY}}} dbname={database}")
    adapter = MySqlAdapter(config, connect=lambda: mysql_connect(resolved(server, "test")), pool_size=4,
                           shown="access-test")
    admin = stack.connect_erp(database="", autocommit=True, cursorclass=DictCursor)

    def query(statement: str) -> list[dict[str, Any]]:
        with admin.cursor() as cursor:
            cursor.execute(statement)
            return list(cursor.fetchall())

    async def scenario() -> tuple[Delivered, Deliverer]:
        await adapter.start()
        await adapter.close()  # its pool dropped: the next write opens a new connection
        secrets.write_text(f"{KEY}=not-the-password\n", encoding="utf-8")
        operator = Operator(adapter, secrets, right, refusals=3)
        deliverer = Deliverer(adapter=operator, gate=TargetGate(CircuitBreaker(threshold=2, reset_s=0.05)),
                              config=config, rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.01, maximum=0.05, jitter=0)))
        try:
            return await deliverer.deliver(availability("SKU-9", 9, str(uuid.uuid4()))), deliverer
        finally:
            await adapter.close()

    query(f"CREATE DATABASE `{database}`")
    query(f"CREATE TABLE `{database}`.availability (sku VARCHAR(60) NOT NULL PRIMARY KEY, "
          "available_qty DECIMAL(14,3) NOT NULL)")
    try:
        with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
            delivered, deliverer = asyncio.run(scenario())
        rows = query(f"SELECT sku, available_qty FROM `{database}`.availability")
    finally:
        query(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert delivered.attempts == 4, "refused three times, then applied with the password read again"
    assert [(r["sku"], str(r["available_qty"])) for r in rows] == [("SKU-9", "9.000")]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"sink {SYSTEM}: {SYSTEM.upper()} refuses Isthmus's credentials: MariaDB access-test "
                                f"refuses the login of user {stack.settings.db_user} ((1045, "), errors[0]
    assert (deliverer.credentials.outages, deliverer.credentials.answers) == (1, 3)
    assert any("accepts Isthmus's credentials again" in r.getMessage() for r in caplog.records)
