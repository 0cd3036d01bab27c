"""A worker fleet: real `isthmus worker` processes with the customer flow in 3 partitions
(ISTHMUS_FLOW_PARTITIONS=3) scale 1 -> 3 -> 1 while CRM customers are inserted and edited. The three share
the partitions while they run; two stop with SIGTERM and the one left takes all back. Every customer gets
exactly one Account create, no idempotency key is emitted twice, and the reconciled customer published
last for each key is the CRM row as last written (name, e-mail, contacts): nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from customer_stack import reader
from support.metrics import parse, value
from support.ports import free_port
from support.waiting import eventually

from reference.topics import CANONICAL_CUSTOMERS, COMMANDS_ERP
from streams.cli.main import main as cli_main
from streams.codecs.avro.single_object import SchemaStore
from streams.stack.running import RunningStack

PARTITIONS = 3
KEYED = f"isthmus-customers-p{PARTITIONS}"
PHASE_S = 5.0
WAIT_S = 120.0


class FleetWorker:
    """One `isthmus worker` of the fleet, running the customer flow partitioned."""

    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        self.port = free_port()
        self.env = {**os.environ, "ISTHMUS_WORKER_PORT": str(self.port), "ISTHMUS_WORKER_ID": name,
                    "ISTHMUS_RESYNC_AT": "off", "ISTHMUS_WORKER_FLOWS": "isthmus-customers",
                    "ISTHMUS_FLOW_PARTITIONS": str(PARTITIONS), "ISTHMUS_WORKER_SESSION_TIMEOUT_MS": "10000"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"], env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def tasks(self) -> int | None:
        """Tasks of the keyed flow this worker runs, from its /metrics (None while it does not answer)."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return None
        found = value(parse(text), "isthmus_flow_tasks", worker=self.name, flow=KEYED)
        return int(found) if found is not None else None

    def terminate(self) -> int:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def tail(self) -> str:
        return f"--- {self.name} ---\n" + self.log.read_text(errors="replace")[-2500:]


def _exited(workers: list[FleetWorker]) -> bool:
    """False while every started worker runs; a failure with the log of one that exited."""
    for worker in workers:
        assert worker.process is None or worker.process.poll() is None, f"{worker.name} exited\n{worker.tail()}"
    return False


def _tails(workers: list[FleetWorker]) -> Callable[[], str]:
    return lambda: "\n".join(w.tail() for w in workers)


class Load:
    """CRM inserts (each customer with a contact) and e-mail edits of earlier customers, until stopped; keeps
    what each customer should finally look like."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.base = random.SystemRandom().randrange(10**6, 10**7)
        self.expected: dict[str, dict[str, Any]] = {}
        self.stop = threading.Event()
        self.failure: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="fleet-load")

    def _run(self) -> None:
        try:
            with self.stack.connect_crm(autocommit=True) as conn:
                i = 0
                while not self.stop.is_set():
                    number = f"C-7{self.base}{i:04d}"
                    name = f"Fleet {number}"
                    row = conn.execute("INSERT INTO crm.customers (customer_number, name, email) VALUES (%s, %s, %s) "
                                       "RETURNING id", (number, name, f"{number.lower()}@fleet.test")).fetchone()
                    assert row is not None
                    conn.execute("INSERT INTO crm.contacts (customer_id, first_name, last_name) VALUES (%s, %s, %s)",
                                 (row[0], "Fleet", number))
                    self.expected[number] = {"name": name, "email": f"{number.lower()}@fleet.test", "contacts": 1}
                    if i % 2 == 1:
                        earlier = random.choice(list(self.expected))
                        email = f"{earlier.lower()}.v{i}@fleet.test"
                        conn.execute("UPDATE crm.customers SET email = %s, version = version + 1 "
                                     "WHERE customer_number = %s", (email, earlier))
                        self.expected[earlier]["email"] = email
                    i += 1
                    time.sleep(0.1)
        except BaseException as exc:  # reported by the test
            self.failure.append(exc)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def _decoder() -> Callable[[bytes], Mapping[str, Any]]:
    schemas = SchemaStore.from_directory()
    return lambda data: schemas.decode(data).value


def _creates(seen: list[tuple[str, str, Mapping[str, Any]]], numbers: set[str]) -> list[Mapping[str, Any]]:
    return [c for topic, key, c in seen if topic == COMMANDS_ERP and key in numbers
            and c["payload_type"].endswith("Account") and c["operation"] == "create"]


def test_fleet_scales_one_three_one_under_load_and_loses_and_duplicates_nothing(stack: RunningStack,
                                                                                tmp_path: Path) -> None:
    assert cli_main(["connectors", "deploy"]) == 0
    produced = reader(stack.settings.bootstrap_servers, [COMMANDS_ERP, CANONICAL_CUSTOMERS], _decoder())
    fleet = [FleetWorker(f"fleet-{i}", tmp_path / f"fleet-{i}.log") for i in range(3)]
    spread: list[int | None] = []
    try:
        fleet[0].start()
        eventually(f"fleet-0 runs all {PARTITIONS} tasks of {KEYED}",
                   lambda: fleet[0].tasks() == PARTITIONS or _exited(fleet), timeout=WAIT_S, context=_tails(fleet))
        with Load(stack) as load:
            time.sleep(PHASE_S)
            fleet[1].start()
            fleet[2].start()
            eventually("the three workers share the partitions, one each",
                       lambda: [w.tasks() for w in fleet] == [1, 1, 1] or _exited(fleet), timeout=WAIT_S,
                       context=_tails(fleet))
            spread = [w.tasks() for w in fleet]
            time.sleep(PHASE_S)
            assert [fleet[1].terminate(), fleet[2].terminate()] == [0, 0], fleet[1].tail() + fleet[2].tail()
            eventually(f"fleet-0 takes all {PARTITIONS} tasks back",
                       lambda: fleet[0].tasks() == PARTITIONS or _exited(fleet[:1]), timeout=WAIT_S,
                       context=_tails(fleet[:1]))
            time.sleep(PHASE_S)
        assert not load.failure, load.failure
        expected = load.expected
        numbers = set(expected)

        def settled(seen: list[tuple[str, str, Mapping[str, Any]]]) -> bool:
            last = {key: value for topic, key, value in seen if topic == CANONICAL_CUSTOMERS and key in numbers}
            return (len({c["entity_key"] for c in _creates(seen, numbers)}) == len(numbers)
                    and all(_state(last.get(n)) == expected[n] for n in numbers))

        produced.until(f"an Account create and the last state of each of {len(numbers)} customers", settled,
                       timeout=WAIT_S)
        # a duplicate, if any, would follow within a few transactions: read on until 8 s bring nothing of ours
        seen = produced.drain(settle=8, counting=lambda seen: sum(key in numbers for _, key, _ in seen))
    finally:
        produced.close()
        for worker in fleet:
            if worker.process is not None and worker.process.poll() is None:
                worker.terminate()
            worker.kill()
    assert spread == [1, 1, 1]
    creates = Counter(c["entity_key"] for c in _creates(seen, numbers))
    assert set(creates) == numbers, f"lost: {sorted(numbers - set(creates))}"
    assert max(creates.values()) == 1, {k: n for k, n in creates.items() if n > 1}
    keys = Counter(c["idempotency_key"] for topic, key, c in seen if topic == COMMANDS_ERP and key in numbers)
    assert max(keys.values()) == 1, {k: n for k, n in keys.items() if n > 1}
    print(f"fleet: {len(numbers)} customers, {sum(keys.values())} ERP commands, spread {spread}")


def _state(canonical: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if canonical is None:
        return None
    return {"name": canonical["name"], "email": canonical["email"], "contacts": len(canonical["contacts"])}
