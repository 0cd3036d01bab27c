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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from pymysql.cursors import DictCursor
from support.commands import account_payload, command
from support.sink_worker import InProcessSink
from support.topics import partition_counts, records_to_end

from streams.codecs.avro.single_object import SchemaStore
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config.model import TargetConfig
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.records import COMMAND, SinkCommand
from streams.sinks.topics import COMMAND_PARTITIONS
from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT

STORE = SchemaStore.from_directory()
__all__ = ["InProcessSink", "account_payload", "command"]  # the sink tests' runner and commands, from support
#: Topics the current test created; the conftest deletes them after it.
CREATED_TOPICS: list[str] = []
LOGS = Path(os.environ.get("ISTHMUS_TEST_LOGS", "/tmp")) / "isthmus-sink-tests"


def encoded_command(command: SinkCommand, *, system: str = "crm") -> bytes:
    """``command`` as a Command record's value, from ``system``'s ``customers`` table."""
    return STORE.encode(COMMAND, {
        "command_id": command.command_id, "idempotency_key": command.idempotency_key, "target": command.target,
        "operation": command.operation, "entity_type": command.entity_type, "entity_key": command.entity_key,
        "payload_type": command.payload_type, "payload": json.dumps(command.payload),
        "changed_fields": list(command.changed_fields),
        "source": {"system": system, "connector": "test", "database": system, "table": "customers",
                   "commit_time": command.created_at},
        "causation": {"event_id": f"test:{command.command_id}"}, "created_at": command.created_at})


def deliver_over_http(config: TargetConfig, url: str, command: SinkCommand, *, connections: int = 4) -> Delivered:
    """``command`` delivered to the HTTP API at ``url`` as ``config`` says, by the real adapter and deliverer (retries
    10 ms apart and doubling), in one event loop of its own."""

    async def go() -> Delivered:
        adapter = HttpAdapter(config, base_url=url, timeout_s=10, max_connections=connections, env={})
        gate = TargetGate(CircuitBreaker(threshold=5, reset_s=5.0), name=f"sink {config.system}")
        deliverer = Deliverer(adapter=adapter, gate=gate, policy=RetryPolicy(backoff=Backoff(base=0.01)),
                              config=config)
        try:
            return await deliverer.deliver(command)
        finally:
            await adapter.close()

    return asyncio.run(go())


def deliver_in_memory(config: TargetConfig, handler: Callable[[httpx.Request], httpx.Response],
                      *commands: SinkCommand, policy: RetryPolicy | None = None,
                      breaker: int = 2) -> tuple[list[Delivered], Deliverer]:
    """``commands`` delivered at the same time (so a ``batch`` route batches them) as ``config`` says, by the real
    adapter and deliverer, to ``handler`` over httpx's in-memory transport; retries 1 ms apart unless ``policy``
    says otherwise, the breaker opening after ``breaker`` failures. The deliverer comes back for its counts."""

    async def go() -> tuple[list[Delivered], Deliverer]:
        adapter = HttpAdapter(config, base_url="http://target.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(handler))
        deliverer = Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=breaker, reset_s=0.01)),
                              config=config, rng=random.Random(1),
                              policy=policy or RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0)))
        try:
            return list(await asyncio.gather(*(deliverer.deliver(c) for c in commands))), deliverer
        finally:
            await adapter.close()

    return asyncio.run(go())


def run_id() -> int:
    """Nine random digits that make this run's customer numbers, SKUs and keys its own."""
    return random.randint(100_000_000, 999_999_999)


def customer_number(run: int, index: int) -> str:
    return f"C-7{run:09d}{index:04d}"


def order_number(run: int, index: int) -> str:
    return f"SO-8{run:09d}{index:04d}"


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
    CREATED_TOPICS.extend([topics.commands, topics.results, topics.dlq])
    asyncio.run(ensure_topics(stack.settings.bootstrap_servers, [
        TopicSpec(name=topics.commands, partitions=COMMAND_PARTITIONS),
        TopicSpec(name=topics.results, partitions=COMMAND_PARTITIONS),
        TopicSpec(name=topics.dlq, partitions=1)]))
    env = {**topics.env(), "ISTHMUS_SINK_GROUP_ID": f"test-sink-{tag}",
           "ISTHMUS_SINK_TRANSACTIONAL_ID": f"test-sink-{tag}"}
    return topics, env


def produce(stack: RunningStack, topic: str, commands: Iterable[Mapping[str, Any]], *,
            max_request_size: int = 1024 * 1024) -> None:
    """Write ``commands`` to ``topic`` keyed by entity (``max_request_size``: the largest record, as a flow's
    worker with ISTHMUS_WORKER_MAX_REQUEST_SIZE raised writes them)."""
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.settings.bootstrap_servers, acks="all",
                                    enable_idempotence=True, max_request_size=max_request_size)
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
    """Every committed record of a topic up to its current end (none while the topic does not exist); with
    ``schema``, only the records written with it, decoded (the dead-letter topic also holds replays' requests
    and notes)."""
    bootstrap = stack.settings.bootstrap_servers
    if not partition_counts(bootstrap, [topic])[topic]:
        return []
    wanted = STORE.current(schema).name if schema else None
    return [Read(partition=r.partition, offset=r.offset, key=r.key, headers=r.headers,
                 value=dict(STORE.decode(r.value, schema).value) if schema and r.value is not None else None)
            for r in records_to_end(bootstrap, [topic])
            if wanted is None or r.value is None or STORE.decode(r.value).schema == wanted]


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
                "ISTHMUS_SINK_METRICS_PORT": "0",
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


@contextmanager
def scratch_mariadb(stack: RunningStack, prefix: str,
                    *tables: str) -> Iterator[tuple[str, Callable[[str], list[dict[str, Any]]]]]:
    """A database of the test's own on the ERP's MariaDB server with ``tables`` (their DDL; ``{db}`` stands for
    the database), dropped after: its name, and a query function (``{db}`` in the text too) giving the rows."""
    database = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = stack.connect_erp(database="", cursorclass=DictCursor, autocommit=True)

    def query(text: str) -> list[dict[str, Any]]:
        with conn.cursor() as cursor:
            cursor.execute(text.replace("{db}", f"`{database}`"))
            return list(cursor.fetchall())

    try:
        query("CREATE DATABASE {db} CHARACTER SET utf8mb4")
        for ddl in tables:
            query(ddl)
        yield database, query
    finally:
        query("DROP DATABASE IF EXISTS {db}")
        conn.close()


def erp_rows(conn: Any, query: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of an ERP query (a DictCursor connection)."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        return list(cur.fetchall())


def erp_goods(stack: RunningStack, run: int, *, on_hand: str = "10", with_product: bool = True) -> tuple[str, str]:
    """A product, a warehouse and stock of this run's own in the ERP; returns (sku, warehouse code)."""
    sku, warehouse = f"SKT-{run}", f"W{run}"
    with api(stack, "erp") as erp:
        assert erp.post("/warehouses", json={"code": warehouse, "name": "Sink test DC"}).status_code == 201
        if with_product:
            add_erp_stock(stack, sku, warehouse, on_hand)
    return sku, warehouse


def add_erp_stock(stack: RunningStack, sku: str, warehouse: str, on_hand: str) -> None:
    with api(stack, "erp") as erp:
        answer = erp.post("/products", json={"sku": sku, "description": "Sink test bolt", "unit_price": "2.50"})
        assert answer.status_code == 201, answer.text
        answer = erp.put(f"/stock/{sku}/{warehouse}", json={"on_hand": on_hand})
        assert answer.status_code == 201, answer.text


@dataclass(frozen=True, kw_only=True)
class Exchange:
    """One request through the recording proxy, with the proxy's clock."""

    method: str
    path: str
    key: str | None
    arrived: float
    answered: float
    status: int
    retry_after: str | None


@dataclass(kw_only=True)
class Recording:
    """What a recording proxy saw: requests as they arrive, and whole exchanges as they complete."""

    url: str = ""
    arrivals: list[tuple[float, str, str | None]] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)

    def writes(self, status: int | None = None) -> list[Exchange]:
        return [e for e in list(self.exchanges) if e.key is not None and (status is None or e.status == status)]

    def writes_arrived(self) -> int:
        return sum(1 for _, _, key in list(self.arrivals) if key is not None)


def _write_keys(header: str | None, body: bytes) -> list[str | None]:
    """The idempotency keys a request carries: its header's, or each item's of a batch call (one write each)."""
    if header is not None:
        return [header]
    try:
        items = json.loads(body).get("items") if body else None
    except (ValueError, AttributeError):
        items = None
    if isinstance(items, list) and items and all(isinstance(i, dict) and "idempotency_key" in i for i in items):
        return [str(i["idempotency_key"]) for i in items]
    return [None]


@contextmanager
def recording_proxy(upstream: str) -> Iterator[Recording]:
    """A pass-through HTTP proxy to ``upstream`` on a free loopback port that records every exchange: it
    measures what the target sees (arrival times, statuses) without touching the target. The reference APIs'
    fault switch is shared by every client of the stack; the proxy tells this test's calls apart."""
    from fastapi import FastAPI, Request
    from starlette.responses import Response

    from reference.common.server import ThreadedServer

    recording = Recording()
    app = FastAPI(title="recording proxy")
    hop = {"host", "content-length", "connection", "transfer-encoding"}

    async def forward(request: Request) -> Response:
        arrived = time.monotonic()
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        body = await request.body()
        keys = _write_keys(request.headers.get("idempotency-key"), body)
        recording.arrivals.extend((arrived, target, key) for key in keys)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        async with httpx.AsyncClient(base_url=upstream, timeout=60) as client:
            answer = await client.request(request.method, target, content=body, headers=headers)
        recording.exchanges.extend(Exchange(method=request.method, path=target, key=key, arrived=arrived,
                                            answered=time.monotonic(), status=answer.status_code,
                                            retry_after=answer.headers.get("retry-after")) for key in keys)
        return Response(content=answer.content, status_code=answer.status_code,
                        headers={k: v for k, v in answer.headers.items() if k.lower() not in hop})

    app.add_route("/{path:path}", forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    with ThreadedServer(app) as server:
        recording.url = server.url
        yield recording


def account_workload(run: int, entities: int, updates: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Per entity: create its ERP account, then ``updates`` credit-limit changes (1.00, 2.00, ...). Applied
    exactly once and in order, each account ends at version 1 + updates with the last limit."""
    numbers = [customer_number(run, i) for i in range(entities)]
    commands: list[dict[str, Any]] = []
    for step in range(updates + 1):
        for number in numbers:
            if step == 0:
                commands.append(command(target="erp", operation="create", payload_type="Account",
                                        entity_key=number, payload=account_payload(number)))
            else:
                commands.append(command(target="erp", operation="update", payload_type="Account",
                                        entity_key=number, payload=account_payload(number,
                                                                                  credit_limit=f"{step}.00"),
                                        changed=["credit_limit"]))
    return numbers, commands


def assert_applied_exactly_once(stack: RunningStack, erp_db: Any, topics: Topics, numbers: list[str],
                                commands: list[dict[str, Any]], updates: int) -> list[dict[str, Any]]:
    """Every command applied once, in order: its key in the ERP's idempotency table, each account at version
    1 + updates with the last limit, one result per command on the results topic, no dead letter."""
    keys = [c["idempotency_key"] for c in commands]
    stored = erp_rows(erp_db, f"SELECT idem_key FROM idempotency_keys WHERE idem_key IN "
                              f"({', '.join(['%s'] * len(keys))})", *keys)
    assert sorted(r["idem_key"] for r in stored) == sorted(keys)
    rows = erp_rows(erp_db, f"SELECT crm_customer_number, credit_limit, version FROM accounts WHERE "
                            f"crm_customer_number IN ({', '.join(['%s'] * len(numbers))})", *numbers)
    assert sorted((r["crm_customer_number"], f"{r['credit_limit']:.2f}", r["version"]) for r in rows) == [
        (n, f"{updates}.00", updates + 1) for n in sorted(numbers)]
    ids = {c["command_id"] for c in commands}
    results = results_for(stack, topics.results, ids)
    assert sorted(r["command_id"] for r in results) == sorted(ids), "one committed result per command"
    assert read_all(stack, topics.dlq, "DeadLetter") == []
    return results


def delete_topics(stack: RunningStack, names: Sequence[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics(list(names))
        finally:
            await admin.close()

    asyncio.run(delete())
