"""Helpers of the sink tests: Command records, Kafka reads and writes, the reference APIs, sink processes."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.kafka import ensure_topics
from streams.sinks.topics import COMMAND_PARTITIONS, TopicSpec
from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT

STORE = SchemaStore.from_directory()
LOGS = Path(os.environ.get("ISTHMUS_TEST_LOGS", "/tmp")) / "isthmus-sink-tests"


def run_id() -> int:
    """Nine random digits that make this run's customer numbers, SKUs and keys its own."""
    return random.randint(100_000_000, 999_999_999)


def customer_number(run: int, index: int) -> str:
    return f"C-7{run:09d}{index:04d}"


def order_number(run: int, index: int) -> str:
    return f"SO-8{run:09d}{index:04d}"


def command(*, target: str, operation: str, payload_type: str, entity_key: str, payload: Mapping[str, Any],
            key: str | None = None, changed: Sequence[str] = (), entity_type: str | None = None) -> dict[str, Any]:
    """A Command record as a flow would produce it."""
    full = payload_type if "." in payload_type else f"isthmus.canonical.{payload_type}"
    command_id = str(uuid.uuid4())
    return {
        "command_id": command_id,
        "idempotency_key": key or f"sink-test:{command_id}",
        "target": target,
        "operation": operation,
        "entity_type": entity_type or full,
        "entity_key": entity_key,
        "payload_type": full,
        "payload": json.dumps(payload),
        "changed_fields": list(changed),
        "source": {"system": "crm" if target == "erp" else "erp", "connector": "test", "database": "test",
                   "table": "test", "commit_time": datetime.now(UTC)},
        "causation": {"event_id": f"test:{command_id}", "correlation_id": f"test-{entity_key}"},
        "created_at": datetime.now(UTC),
    }


def account_payload(number: str, *, code: str | None = None, name: str = "Test account",
                    credit_limit: str | None = None, account_id: int | None = None,
                    active: bool = True) -> dict[str, Any]:
    return {"account_id": account_id, "account_code": code or "T" + number[2:], "crm_customer_number": number,
            "name": name, "email": None, "phone": None,
            "billing_address": {"kind": "billing", "line1": "1 Test Road", "line2": None, "city": "Shanghai",
                                "postal_code": "200000", "country": "CN"},
            "credit_limit": credit_limit, "payment_terms": "NET30", "blocked": False, "active": active,
            "updated_at": None}


@dataclass(frozen=True, kw_only=True)
class Topics:
    commands: str
    results: str
    dlq: str

    def env(self) -> dict[str, str]:
        return {"ISTHMUS_SINK_COMMAND_TOPIC": self.commands, "ISTHMUS_SINK_RESULTS_TOPIC": self.results,
                "ISTHMUS_SINK_DLQ_TOPIC": self.dlq}


def fresh_topics(stack: RunningStack, name: str) -> tuple[Topics, dict[str, str]]:
    """Topics and a consumer group of a test's own, and the environment that points a sink at them."""
    tag = f"{name}.{uuid.uuid4().hex[:8]}"
    topics = Topics(commands=f"test.sink.commands.{tag}", results=f"test.sink.results.{tag}",
                    dlq=f"test.sink.dlq.{tag}")
    asyncio.run(ensure_topics(stack.settings.bootstrap_servers, [
        TopicSpec(name=topics.commands, partitions=COMMAND_PARTITIONS),
        TopicSpec(name=topics.results, partitions=COMMAND_PARTITIONS),
        TopicSpec(name=topics.dlq, partitions=1)]))
    env = {**topics.env(), "ISTHMUS_SINK_GROUP_ID": f"test-sink-{tag}",
           "ISTHMUS_SINK_TRANSACTIONAL_ID": f"test-sink-{tag}"}
    return topics, env


def produce(stack: RunningStack, topic: str, commands: Iterable[Mapping[str, Any]]) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.settings.bootstrap_servers, acks="all",
                                    enable_idempotence=True)
        await producer.start()
        try:
            for item in commands:
                await producer.send(topic, STORE.encode("Command", item), key=item["entity_key"].encode())
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


@dataclass(frozen=True, kw_only=True)
class Read:
    partition: int
    offset: int
    key: bytes | None
    value: dict[str, Any] | None
    headers: tuple[tuple[str, bytes], ...] = field(default=())


def read_all(stack: RunningStack, topic: str, schema: str | None) -> list[Read]:
    """Every committed record of a topic up to its current end, decoded with ``schema`` when given."""

    async def read() -> list[Read]:
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.settings.bootstrap_servers, group_id=None,
                                    isolation_level="read_committed", enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            if not tps:
                return []
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            found: list[Read] = []
            pending = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=500)
                for tp, records in batches.items():
                    for r in records:
                        value = (dict(STORE.decode(r.value, schema).value) if schema and r.value is not None
                                 else None)
                        found.append(Read(partition=tp.partition, offset=r.offset, key=r.key, value=value,
                                          headers=tuple((k, bytes(v)) for k, v in r.headers)))
                pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def wait_for(what: str, check: Any, *, timeout: float, every: float = 0.5) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` when it never does."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def results_for(stack: RunningStack, topic: str, command_ids: set[str]) -> list[dict[str, Any]]:
    return [r.value for r in read_all(stack, topic, "CommandResult")
            if r.value is not None and r.value["command_id"] in command_ids]


def dead_letters_for(stack: RunningStack, topic: str, entity_keys: set[str]) -> list[Read]:
    found = []
    for record in read_all(stack, topic, "DeadLetter"):
        key = record.value["key"] if record.value else None
        if key is not None and key.decode() in entity_keys:
            found.append(record)
    return found


def api(stack: RunningStack, system: str) -> httpx.Client:
    url = stack.settings.crm_api_url if system == "crm" else stack.settings.erp_api_url
    return httpx.Client(base_url=url, timeout=30)


@contextmanager
def fault(stack: RunningStack, system: str, plan: Mapping[str, Any]) -> Iterator[None]:
    """A fault plan on one reference API, always cleared at the end."""
    with api(stack, system) as client:
        answer = client.post("/_faults", json=dict(plan))
        assert answer.status_code == 200, answer.text
        try:
            yield
        finally:
            client.delete("/_faults")


def sink_env(stack: RunningStack, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a sink process on the test stack (no passwords: they come from the secrets file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISTHMUS_SINK_")}
    env.update({"ISTHMUS_HOME": str(stack.settings.home), "ISTHMUS_KAFKA_PORT": str(stack.settings.kafka_port),
                "ISTHMUS_CRM_API_PORT": str(stack.settings.crm_api_port),
                "ISTHMUS_ERP_API_PORT": str(stack.settings.erp_api_port),
                "ISTHMUS_CRM_DB_PORT": str(stack.settings.crm_db_port),
                "ISTHMUS_SINK_COMMIT_INTERVAL_MS": "100", "ISTHMUS_SINK_SUMMARY_S": "5",
                "PYTHONPATH": str(PROJECT_ROOT)})
    env.update(extra or {})
    return env


class SinkProcess:
    """``isthmus sink --target <system>`` as a real process, its log in a file."""

    def __init__(self, stack: RunningStack, system: str, env: Mapping[str, str] | None = None,
                 name: str = "sink") -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"{name}-{system}-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "sink", "--target", system, "--log-level", "DEBUG"],
            env=sink_env(stack, env), stdout=self._log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None
