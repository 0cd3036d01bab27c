"""A flow whose transaction fails in any way restarts from its last commit with new clients, and never stops the
worker's other flows; a flow that keeps restarting is failing on /health with its last error, which names the
principal and the ACL to grant when Kafka refused one.

A user denied the worker's principal Write on a flow's changelog topic: aiokafka's sender got
TOPIC_AUTHORIZATION_FAILED for AddPartitionsToTxn and put the transaction in its abortable-error state while the
engine was still queueing the batch's record batches, so the next ``send_batch`` raised ``IllegalOperation: Can't
send messages while not in transaction``: no ``KafkaError``, so it went past the flow's restart and stopped the whole
worker (every flow), after a 40 s wait for its consumers to leave their groups. The batch queued before it would
have gone to the broker once the failed transaction had forgotten its partition."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalOperation, TopicAuthorizationFailedError, TransactionalIdAuthorizationFailed

from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaSettings
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.processor import EngineSettings, FlowProcessor, TaskStartFailed, _Restored, _Task
from streams.flows.engine.stores import MemoryStore
from streams.worker.web import build_app

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
IN = TopicPartition("ledger.accounts", 0)


def balance(record: Incoming, ctx: Context) -> None:
    """Keeps the account's last value and emits it: a batch writes an output topic and a changelog."""
    ctx.stores["balances"].put((record.key or b"").decode(), {"offset": record.offset})
    ctx.emit("ledger.balances", key=record.key, value=record.value)


SPEC = FlowSpec(name="ledger-balances", inputs=(IN.topic,), handler=balance, stores=("balances",),
                outputs=("ledger.balances",))
CHANGELOG = SPEC.changelog_topic("balances")


def _message(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic=IN.topic, partition=0, offset=offset, timestamp=1, timestamp_type=0, key=b"acct-7",
                          value=b"{}", checksum=None, serialized_key_size=6, serialized_value_size=2, headers=())


def _refusing_producer() -> AIOKafkaProducer:
    """aiokafka's transactional producer, its id granted, whose sender is answered TOPIC_AUTHORIZATION_FAILED for
    the changelog when the engine asks for its metadata (the sender's AddPartitionsToTxn for the output topic's
    batch, queued just before, runs meanwhile): no broker, the producer's own transaction state and checks."""
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", transactional_id="ledger-balances-0",
                                enable_idempotence=True, acks="all")
    producer._txn_manager.set_pid_and_epoch(7, 0)

    async def metadata(topic: str) -> set[int]:
        if topic == CHANGELOG and producer._txn_manager.is_in_transaction():
            producer._txn_manager.error_transaction(TopicAuthorizationFailedError({CHANGELOG}))
        return {0}

    producer.client._wait_on_metadata = metadata  # type: ignore[method-assign]
    producer._metadata.partitions_for_topic = lambda topic: {0}  # type: ignore[method-assign]
    return producer


def _settings(**changed: Any) -> EngineSettings:
    kafka = KafkaSettings.model_validate({"bootstrap_servers": "127.0.0.1:9", "security_protocol": "SASL_PLAINTEXT",
                                          "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "ledger-svc",
                                          "sasl_password": "x"})
    return EngineSettings(bootstrap_servers=kafka, worker_id="w-1", restart_delay_s=0.0, **changed)


def test_a_transaction_failing_with_no_kafka_error_restarts_the_flow_with_new_clients(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    processor = FlowProcessor(SPEC, _settings(), STORE)
    attempts: list[AIOKafkaProducer] = []
    queued: list[int] = []

    async def nothing_to_create() -> None:
        pass

    async def run_once(stop: asyncio.Event) -> None:
        if attempts:  # the restart: a new attempt, which the test ends
            stop.set()
            return
        producer = _refusing_producer()
        attempts.append(producer)
        task = _Task(partition=0, restored=_Restored(stores={"balances": MemoryStore("balances")}), ready=True,
                     producer=producer)
        try:
            await processor._process(task, [(IN, [_message(0), _message(1)])])
            await processor._settled(task)
        finally:
            queued.append(sum(len(b) for b in producer._message_accumulator._batches.values()))
            await producer.stop()  # as the engine closes a task: at once, nothing left to flush

    monkeypatch.setattr(processor, "ensure_topics", nothing_to_create)
    monkeypatch.setattr(processor, "_run_once", run_once)
    with caplog.at_level(logging.WARNING, logger="streams.flows.engine.processor"):
        asyncio.run(processor.run(asyncio.Event()))  # before: IllegalOperation went out of run(), the worker stopped

    assert len(attempts) == 1 and processor.restarts is not None and processor.restarts.count == 1
    assert processor.processed == 0, "the failed transaction committed nothing"
    assert queued == [0], ("the output topic's record batch, queued in the failed transaction, is dropped: not sent "
                           "once the transaction has forgotten its partition")
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [("WARNING", "ledger-balances: IllegalOperation: Can't send messages while not in transaction; "
                                 "restarting from the last commit in 0s")]


def test_a_bug_in_a_flows_run_restarts_that_flow_only_and_is_logged_with_its_trace(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Whatever stops one flow's run (here a ZeroDivisionError) restarts it; the other flow goes on."""
    broken, other = FlowProcessor(SPEC, _settings(), STORE), FlowProcessor(
        FlowSpec(name="ledger-totals", inputs=(IN.topic,), handler=balance), _settings(), STORE)
    stop = asyncio.Event()
    rounds = {"ledger-balances": 0, "ledger-totals": 0}

    async def nothing_to_create() -> None:
        pass

    def run_once(processor: FlowProcessor) -> Any:
        async def once(stop: asyncio.Event) -> None:
            rounds[processor.spec.name] += 1
            await asyncio.sleep(0.01)
            if processor is broken:
                raise ZeroDivisionError("division by zero")
            if rounds["ledger-totals"] >= 5:
                stop.set()
        return once

    for processor in (broken, other):
        monkeypatch.setattr(processor, "ensure_topics", nothing_to_create)
        monkeypatch.setattr(processor, "_run_once", run_once(processor))

    async def both() -> None:
        await asyncio.gather(broken.run(stop), other.run(stop))

    with caplog.at_level(logging.WARNING, logger="streams.flows.engine.processor"):
        asyncio.run(both())
    assert rounds["ledger-totals"] == 5 and rounds["ledger-balances"] >= 2
    errors = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "streams.flows.engine.processor"]
    assert errors and errors[0].exc_info is not None
    assert errors[0].getMessage().startswith("ledger-balances: ZeroDivisionError: division by zero; restarting")


def test_a_flow_restarting_past_the_bound_is_failing_on_health_naming_the_principal_and_the_acl(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The producer's transactional id is refused: every restart fails the same way. The warning names the
    principal (the SASL user) and the ACL to grant; /health is ``ok`` at first (a Kafka restart passes), then,
    past ``failing_after_s`` with no commit, 503 with the flow's last error; /ready says it too."""
    processor = FlowProcessor(SPEC, _settings(failing_after_s=0.3), STORE)
    refused = TransactionalIdAuthorizationFailed("ledger-balances-0")
    early: list[str | None] = []

    async def nothing_to_create() -> None:
        pass

    async def run_once(stop: asyncio.Event) -> None:
        if processor.restarts is not None and processor.restarts.count == 1:
            early.append(processor.failing_reason())
        if processor.failing_reason() is not None:
            stop.set()
            return
        await asyncio.sleep(0.05)
        raise TaskStartFailed("ledger-balances: a task could not start: refused") from refused

    monkeypatch.setattr(processor, "ensure_topics", nothing_to_create)
    monkeypatch.setattr(processor, "_run_once", run_once)

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        await processor.run(asyncio.Event())
        async with TestClient(TestServer(build_app("w-1", [processor], {}))) as client:
            return [(answer.status, await answer.json())
                    for answer in [await client.get("/health"), await client.get("/ready")]]

    with caplog.at_level(logging.WARNING, logger="streams.flows.engine.processor"):
        (late, late_body), (_, ready) = asyncio.run(scenario())
    acl = ("Kafka refuses the principal User:ledger-svc the transactional id ledger-balances-0 "
           "(TRANSACTIONAL_ID_AUTHORIZATION_FAILED); grant it (README, \"ACLs the principal needs\"): kafka-acls "
           "--bootstrap-server … --add --allow-principal User:ledger-svc --operation All --transactional-id "
           "ledger-balances-0")
    assert early == [None], "a restart within the bound (a Kafka that restarts) is not failing yet"
    assert ready["flows"]["ledger-balances"]["last_error"].startswith(acl)
    assert late == 503 and late_body["status"] == "failing"
    reason = late_body["failing"]["ledger-balances"]
    assert reason.startswith("restarting from its last commit for ") and " restart(s), no commit since)" in reason
    assert reason.split("; the last error: ", 1)[1].startswith(acl)
    mine = [r for r in caplog.records if r.name == "streams.flows.engine.processor"]
    assert mine and all(r.levelname == "WARNING" and acl in r.getMessage() for r in mine)


def test_a_commit_ends_the_restarts_and_so_does_staying_ready() -> None:
    processor = FlowProcessor(SPEC, _settings(failing_after_s=0.0), STORE)
    processor._restarting(IllegalOperation("Can't send messages while not in transaction"))
    assert processor.failing_reason() is not None
    processor.ready, processor._ready_since = True, time.monotonic()
    processor._forget_restarts()
    assert processor.restarts is None and processor.failing_reason() is None
