"""The real `isthmus worker` process on the real connectors: SIGKILLed again and again while CRM customers are
written, every customer gets its ERP account command exactly once (read_committed, by idempotency key); and
`ALTER TABLE ... ADD COLUMN` on either side mid-stream does not stop changes flowing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from customer_stack import Keyed, reader
from support.ports import free_port
from support.topics import TopicReader

from reference.topics import COMMANDS_CRM, COMMANDS_ERP
from streams.cli.main import main as cli_main
from streams.codecs.avro.single_object import SchemaStore
from streams.stack.running import RunningStack

CUSTOMERS = 40
KILLS = 3



class Worker:
    """`isthmus worker` running the customer flow, restartable, with its output in one log."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.env = {**os.environ, "ISTHMUS_WORKER_PORT": str(free_port()), "ISTHMUS_RESYNC_AT": "off",
                    "ISTHMUS_WORKER_FLOWS": "isthmus-customers", "ISTHMUS_WORKER_SESSION_TIMEOUT_MS": "10000"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"], env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker(stack: RunningStack, tmp_path: Path) -> Iterator[Worker]:
    del stack
    assert cli_main(["connectors", "deploy"]) == 0
    running = Worker(tmp_path / "worker.log")
    running.start()
    yield running
    running.stop()


def _numbers(count: int) -> list[str]:
    base = random.SystemRandom().randrange(10**7, 10**8)
    return [f"C-8{base}{i:03d}" for i in range(count)]


def _reader(stack: RunningStack, topics: list[str]) -> TopicReader[Keyed]:
    schemas = SchemaStore.from_directory()

    def value(data: bytes) -> Mapping[str, Any]:
        return schemas.decode(data).value

    return reader(stack.settings.bootstrap_servers, topics, value)


def _account_creates(seen: list[tuple[str, str, Mapping[str, Any]]], numbers: set[str]) -> list[Mapping[str, Any]]:
    return [c for topic, key, c in seen if topic == COMMANDS_ERP and key in numbers
            and c["payload_type"].endswith("Account") and c["operation"] == "create"]


def test_sigkill_again_and_again_gives_each_customer_one_account_command(stack: RunningStack,
                                                                          worker: Worker) -> None:
    numbers = _numbers(CUSTOMERS)
    commands = _reader(stack, [COMMANDS_ERP])

    def write() -> None:
        with stack.connect_crm(autocommit=True) as conn:
            for number in numbers:
                conn.execute("INSERT INTO crm.customers (customer_number, name, email) VALUES (%s, %s, %s)",
                             (number, f"Kill Probe {number}", f"{number.lower()}@example.test"))
                time.sleep(0.3)

    writer = threading.Thread(target=write)
    writer.start()
    def created(seen: list[Keyed]) -> int:
        return len({c["entity_key"] for c in _account_creates(seen, set(numbers))})

    try:
        for kill in range(KILLS):
            # each kill lands while the worker is producing: once it made an Account create since the last one
            # (or made them all, the writer being done)
            before = created(commands.seen)
            commands.until(f"the worker producing before kill {kill + 1}",
                           lambda s, before=before: created(s) > before or created(s) == CUSTOMERS, timeout=120,
                           logs=worker.log.parent)
            worker.kill()
            worker.start()
    finally:
        writer.join()
    try:
        commands.until(f"an Account create for each of {CUSTOMERS} customers",
                       lambda s: created(s) == CUSTOMERS, timeout=240, logs=worker.log.parent)
        # a duplicate, if any, would follow within a few transactions: read on until 8 s bring nothing of ours
        seen = commands.drain(settle=8, counting=lambda s: sum(key in set(numbers) for _, key, _ in s))
    finally:
        commands.close()
    creates = _account_creates(seen, set(numbers))
    per_customer = Counter(c["entity_key"] for c in creates)
    assert set(per_customer) == set(numbers)
    assert max(per_customer.values()) == 1, {k: n for k, n in per_customer.items() if n > 1}
    mine = [c for topic, key, c in seen if key in set(numbers)]
    keys = Counter(c["idempotency_key"] for c in mine)
    assert max(keys.values()) == 1, "an idempotency key appeared twice on the command topic"


def test_add_column_mid_stream_on_either_side_keeps_changes_flowing(stack: RunningStack, worker: Worker) -> None:
    column = f"probe_{uuid.uuid4().hex[:8]}"
    before, after = _numbers(2)
    commands = _reader(stack, [COMMANDS_ERP, COMMANDS_CRM])
    try:
        with stack.connect_crm(autocommit=True) as conn:
            conn.execute("INSERT INTO crm.customers (customer_number, name) VALUES (%s, %s)", (before, "Before"))
            commands.until(f"Account create for {before}", lambda s: bool(_account_creates(s, {before})))
            conn.execute(f"ALTER TABLE crm.customers ADD COLUMN {column} text")
            conn.execute(f"INSERT INTO crm.customers (customer_number, name, {column}) VALUES (%s, %s, %s)",
                         (after, "After", "new column"))
        commands.until(f"Account create for {after} after the CRM's ALTER TABLE",
                          lambda s: bool(_account_creates(s, {after})))

        erp = stack.connect_erp(autocommit=True)
        try:
            with erp.cursor() as cursor:
                cursor.execute(f"ALTER TABLE accounts ADD COLUMN {column} VARCHAR(40) NULL")
                cursor.execute(
                    f"INSERT INTO accounts (account_code, name, crm_customer_number, credit_limit, {column}) "
                    "VALUES (%s, %s, %s, %s, %s)", (f"AC-{after[2:]}"[:20], "After", after, "750.00", "new column"))
        finally:
            erp.close()
        commands.until(f"CRM commands for {after} after the ERP's ALTER TABLE",
                          lambda s: any(t == COMMANDS_CRM and k == after for t, k, _ in s))
    finally:
        commands.close()
        with stack.connect_crm(autocommit=True) as conn:
            conn.execute(f"ALTER TABLE crm.customers DROP COLUMN IF EXISTS {column}")
        erp = stack.connect_erp(autocommit=True)
        try:
            with erp.cursor() as cursor:
                cursor.execute(f"ALTER TABLE accounts DROP COLUMN IF EXISTS {column}")
        finally:
            erp.close()
