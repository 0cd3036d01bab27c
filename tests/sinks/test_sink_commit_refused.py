"""A sink whose transactional id Kafka refuses replaces its producer and commits the same prefix again after a
backoff, saying what is refused, to whom, and the ACL to grant; it never stops.

A user denied the sink's principal its transactional id (``kafka-acls --deny-principal User:isthmus --operation All
--transactional-id isthmus-sink-erp``): aiokafka's sender died with TransactionalIdAuthorizationFailed, which puts
its transaction manager in FATAL_ERROR; the sink logged ``commit failed ...; aborting and retrying`` and its abort
failed with ``AssertionError: Invalid state transition FATAL_ERROR -> ABORTING_TRANSACTION``, stopping the sink."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import TransactionalIdAuthorizationFailed
from aiokafka.producer.transaction_manager import TransactionManager

from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaSettings
from streams.sinks.adapters.jsonrpc import JsonRpcAdapter
from streams.sinks.config import load_target
from streams.sinks.settings import SinkSettings
from streams.sinks.worker import Output, SinkWorker

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
TARGET = """\
system: ledgerly
adapter: jsonrpc
jsonrpc:
  url: http://127.0.0.1:9
  version: "1.0"
routes:
  - payload_type: Account
    operation: create
    method: model.party.party.create
    params: [[{name: name}], {}]
"""
KAFKA = KafkaSettings.model_validate({"bootstrap_servers": "127.0.0.1:9", "security_protocol": "SASL_PLAINTEXT",
                                      "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "ledger-sink",
                                      "sasl_password": "x"})


class _Producer:
    """A transactional producer with aiokafka's own transaction state machine; ``refused``: the broker refuses its
    transactional id while the transaction adds its offsets (the sender dies, the manager goes FATAL_ERROR)."""

    def __init__(self, transactional_id: str, *, refused: bool = False, start_refused: bool = False) -> None:
        self.txn = TransactionManager(transactional_id, 60000)
        self.refused, self.start_refused = refused, start_refused
        self.sent: list[tuple[str, bytes]] = []
        self.offsets: dict[TopicPartition, int] = {}
        #: The metadata committed with each offset (the sink's note: streams/sinks/presence.py).
        self.metadata: dict[TopicPartition, str | None] = {}
        self.committed = self.stopped = False

    async def start(self) -> None:
        if self.start_refused:
            raise TransactionalIdAuthorizationFailed(self.txn.transactional_id)
        self.txn.set_pid_and_epoch(1, 0)

    async def begin_transaction(self) -> None:
        self.txn.begin_transaction()

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[Any]:
        self.sent.append((topic, value))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_offsets_to_transaction(self, offsets: dict[TopicPartition, Any], group: str) -> None:
        if self.refused:
            refused = TransactionalIdAuthorizationFailed(self.txn.transactional_id)
            self.txn.fatal_error(refused)
            raise refused
        self.offsets.update({tp: getattr(given, "offset", given) for tp, given in offsets.items()})
        self.metadata.update({tp: getattr(given, "metadata", None) for tp, given in offsets.items()})

    async def commit_transaction(self) -> None:
        self.txn.committing_transaction()
        self.committed = True

    async def abort_transaction(self) -> None:
        self.txn.aborting_transaction()  # aiokafka's check: no abort from FATAL_ERROR

    async def stop(self) -> None:
        self.stopped = True


def _worker(folder: Path) -> SinkWorker:
    path = folder / "ledgerly.yaml"
    path.write_text(TARGET)
    config = load_target(path, STORE.schemas, ["ledgerly"])
    resolved = SinkSettings.from_env({"ISTHMUS_SINK_METRICS_PORT": "0"}).for_system("ledgerly", writable=["ledgerly"])
    adapter = JsonRpcAdapter(config, url="http://127.0.0.1:9", timeout_s=1.0, max_connections=1, env={})
    return SinkWorker(config=config, adapter=adapter, settings=resolved, bootstrap_servers=KAFKA, store=STORE)


def test_a_refused_transactional_id_replaces_the_producer_and_retries_with_backoff(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def commits() -> SinkWorker:
        worker = _worker(tmp_path)
        tp = TopicPartition(worker.resolved.command_topic, 0)
        worker.offsets.track(tp, 0)
        worker.offsets.complete(tp, 0, (Output(topic=worker.resolved.results_topic, key=b"L-1", value=b"result",
                                               headers=[]),))
        transactional_id = worker.resolved.transactional_id
        refused = _Producer(transactional_id, refused=True)
        starts = [_Producer(transactional_id, start_refused=True), _Producer(transactional_id)]
        await refused.start()  # as run() starts it
        worker._producer = refused  # type: ignore[assignment]
        worker._new_producer = lambda: starts.pop(0)  # type: ignore[assignment, method-assign]
        await worker._flush()  # before: AssertionError: Invalid state transition FATAL_ERROR -> ABORTING_TRANSACTION
        assert worker._producer is None and refused.stopped
        await worker._flush()  # within the backoff: no new producer yet
        assert len(starts) == 2
        worker._commit_retry_at = 0.0
        await worker._flush()  # the new producer's start is refused too: the backoff grows
        assert len(starts) == 1 and worker._producer is None and worker._commit_failures == 2
        worker._commit_retry_at = 0.0
        await worker._flush()
        return worker

    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        worker = asyncio.run(commits())
    tp, transactional_id = TopicPartition(worker.resolved.command_topic, 0), worker.resolved.transactional_id
    healthy = worker._producer
    assert isinstance(healthy, _Producer) and healthy.committed
    assert healthy.sent == [(worker.resolved.results_topic, b"result")] and healthy.offsets == {tp: 1}
    assert worker.committed_offsets == {tp: 1} and worker.commit_error is None and worker._commit_failures == 0
    acl = (f"Kafka refuses the principal User:ledger-sink the transactional id {transactional_id} "
           "(TRANSACTIONAL_ID_AUTHORIZATION_FAILED); grant it (README, \"ACLs the principal needs\"): kafka-acls "
           f"--bootstrap-server … --add --allow-principal User:ledger-sink --operation All --transactional-id "
           f"{transactional_id}")
    lines = [r.getMessage() for r in caplog.records if r.name == "isthmus.sink"]
    assert len(lines) == 2
    assert lines[0].startswith(f"sink ledgerly: commit failed ({acl}") and lines[0].endswith(
        "its producer is replaced and the commit retried in 1.0 s (attempt 1)")
    assert lines[1].startswith(f"sink ledgerly: a new producer could not start ({acl}") and lines[1].endswith(
        "retried in 2.0 s (attempt 2)")
