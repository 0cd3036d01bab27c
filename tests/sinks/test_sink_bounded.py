"""Every record a sink produces fits what Kafka takes (streams/sinks/bounded.py): a dead letter or result over
ISTHMUS_SINK_MAX_REQUEST_SIZE is written smaller where it is made; one a topic refuses all the same is tied to its
own record and made smaller alone; commits that keep failing are said as an ERROR with the fix, and counted."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from support.commands import command
from test_sink_commit_refused import _Producer, _worker

from streams.codecs.avro.single_object import SchemaStore
from streams.kafka.deadletters import VALUE_EXCERPT_HEADER, Original, dead_letter_value, value_left_out
from streams.kafka.sizes import DEFAULT_MAX_REQUEST_SIZE, record_size
from streams.sinks.bounded import (
    COMMAND_HEADER,
    REFUSED_BOUND,
    bounded_letter,
    bounded_result,
    command_header,
    letter_command,
    same_payload,
)
from streams.sinks.metrics import sink_registry
from streams.sinks.records import COMMAND, COMMAND_RESULT, DEAD_LETTER, output_headers
from streams.sinks.settings import SinkSettings
from streams.sinks.worker import SinkWorker, _Item

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
LIMIT = 64 * 1024
NOTES = "n" * 200_000


def _command(notes: str = NOTES) -> dict[str, Any]:
    return command(target="ledgerly", operation="create", payload_type="Account", entity_key="L-1",
                   payload={"crm_customer_number": "L-1", "name": "Ledger one", "notes": notes}, changed=("name",))


def _letter(value: bytes, reason: str = "LEDGERLY answered 413: body too large") -> dict[str, Any]:
    original = Original(topic="isthmus.commands.ledgerly", partition=2, offset=41, timestamp_ms=0, key=b"L-1",
                        value=value, headers=(("isthmus.command_id", b"c-1"),))
    return dead_letter_value(original, reason=reason, error_type="TargetRefused", stage="sink.ledgerly", attempts=1,
                             worker="w1")


def test_a_dead_letter_within_the_bound_is_kept_whole() -> None:
    value = STORE.encode(COMMAND, _command("short"))
    encoded, whole = bounded_letter(STORE, _letter(value), key=b"L-1", headers=[], limit=LIMIT,
                                    command=_command("short"))
    assert whole is None and STORE.decode(encoded, DEAD_LETTER).value["value"] == value


def test_a_dead_letter_over_the_bound_keeps_its_reason_the_command_fields_and_an_excerpt() -> None:
    made = _command()
    value = STORE.encode(COMMAND, made)
    headers = output_headers(command_id="c-1", stage="sink.ledgerly")
    encoded, whole = bounded_letter(STORE, _letter(value), key=b"L-1", headers=headers, limit=LIMIT, command=made)
    assert whole is not None and whole > LIMIT and record_size(b"L-1", encoded, headers) <= LIMIT
    letter = STORE.decode(encoded, DEAD_LETTER).value
    assert letter["value"] is None and value_left_out(letter) == len(value)
    assert letter["reason"].startswith("LEDGERLY answered 413: body too large. The record's value")
    assert f"cannot hold it within {LIMIT} bytes (ISTHMUS_SINK_MAX_REQUEST_SIZE)" in letter["reason"]
    assert "`isthmus topics dlq replay` asks the entity flow that derived it to derive it again" in letter["reason"]
    kept = {h["key"]: h["value"] for h in letter["headers"]}
    assert kept["isthmus.command_id"] == b"c-1", "the original headers are kept"
    assert kept[VALUE_EXCERPT_HEADER] == value[:2048]
    fields = json.loads(kept[COMMAND_HEADER])
    assert (fields["command_id"], fields["operation"], fields["entity_key"], fields["changed_fields"]) == (
        made["command_id"], "create", "L-1", ["name"])
    assert json.loads(fields["payload"]) == {"crm_customer_number": "L-1", "name": "Ledger one"}
    assert fields["left_out"] == {"notes": len(json.dumps(NOTES))}
    # what the entity flow reads of it: the command's fields, its payload told by its digest
    read = letter_command(letter, STORE)
    assert read is not None and read["entity_key"] == "L-1" and read["idempotency_key"] == made["idempotency_key"]
    assert same_payload(read, made["payload"]) and not same_payload(read, json.dumps({"name": "other"}))


def test_a_long_reason_is_cut_and_a_command_header_stays_bounded() -> None:
    letter = _letter(b"x" * 100_000, reason="r" * 50_000)
    encoded, _ = bounded_letter(STORE, letter, key=None, headers=[], limit=LIMIT, command=None)
    reason = STORE.decode(encoded, DEAD_LETTER).value["reason"]
    assert reason.startswith("r" * 8192 + "… (41808 more characters). The record's value (100000 bytes)")
    many = _command()
    many["payload"] = json.dumps({f"field_{i}": "v" * 200 for i in range(200)})
    header = command_header(many)
    assert len(header["value"]) < 8 * 1024 and len(json.loads(header["value"])["left_out"]) > 150


def test_a_result_over_the_bound_leaves_the_answer_out_and_keeps_the_ids() -> None:
    result = {"command_id": "c-1", "idempotency_key": "k", "target": "ledgerly", "operation": "create",
              "entity_type": "isthmus.canonical.Account", "entity_key": "L-1",
              "payload_type": "isthmus.canonical.Account", "status": 201, "assigned_ids": {"account_id": "77"},
              "response": json.dumps({"echo": "e" * 200_000}),
              "applied_at": dt.datetime.now(dt.UTC), "attempts": 1, "replayed": False,
              "correlation_id": None, "command_created_at": None}
    encoded, whole = bounded_result(STORE, result, key=b"L-1", headers=[], limit=LIMIT)
    assert whole is not None and whole > LIMIT and record_size(b"L-1", encoded, []) <= LIMIT
    written = STORE.decode(encoded, COMMAND_RESULT).value
    assert written["assigned_ids"] == {"account_id": "77"} and written["status"] == 201
    note = json.loads(written["response"])
    assert note["isthmus_left_out"] is True and note["chars"] == len(result["response"])
    assert f"over the {LIMIT} bytes the sink produces at most (ISTHMUS_SINK_MAX_REQUEST_SIZE)" in note["why"]


def test_the_sink_producer_takes_its_setting() -> None:
    assert SinkSettings.from_env({}).max_request_size == DEFAULT_MAX_REQUEST_SIZE
    settings = SinkSettings.from_env({"ISTHMUS_SINK_MAX_REQUEST_SIZE": str(4 << 20)})
    assert settings.max_request_size == 4 << 20 and SinkSettings.env_name("max_request_size") == (
        "ISTHMUS_SINK_MAX_REQUEST_SIZE")
    with pytest.raises(Exception, match="ISTHMUS_SINK_MAX_REQUEST_SIZE"):
        SinkSettings.from_env({"ISTHMUS_SINK_MAX_REQUEST_SIZE": "1000"})


class _SmallTopic(_Producer):
    """A producer whose broker refuses, as too large for the dead-letter topic, every record over ``topic_limit``
    bytes written there (a topic whose max.message.bytes is below the sink's setting)."""

    def __init__(self, transactional_id: str, topic: str, topic_limit: int) -> None:
        super().__init__(transactional_id)
        self.topic, self.topic_limit = topic, topic_limit

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> asyncio.Future[Any]:
        future = await super().send(topic, value, **kwargs)
        if topic == self.topic and record_size(kwargs.get("key"), value, kwargs.get("headers") or []) > \
                self.topic_limit:
            refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            refused.set_exception(MessageSizeTooLargeError())
            return refused
        return future


def _item(worker: SinkWorker, offset: int, notes: str) -> _Item:
    made = _command(notes)
    value = STORE.encode(COMMAND, made)
    tp = TopicPartition(worker.resolved.command_topic, 0)
    item = _Item(tp=tp, offset=offset, original=Original(topic=tp.topic, partition=0, offset=offset,
                                                         timestamp_ms=0, key=b"L-1", value=value))
    worker.offsets.track(tp, offset)
    return item


def test_a_dead_letter_the_topic_refuses_is_made_smaller_alone_and_the_commit_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def commits() -> tuple[SinkWorker, list[_Producer]]:
        worker = _worker(tmp_path)
        large, small = _item(worker, 0, "m" * 150_000), _item(worker, 1, "short")
        for item in (large, small):  # within the setting (1 MiB), the first over the topic's 100 kB
            worker.offsets.complete(item.tp, item.offset, (worker._dead_letter(
                item, reason="LEDGERLY answered 413", error_type="TargetRefused", attempts=1),))
        producers = [_SmallTopic(worker.resolved.transactional_id, worker.resolved.dlq_topic, 100_000)
                     for _ in range(2)]
        await producers[0].start()  # as run() starts it; the next one is started by the worker
        worker._producer = producers[0]  # type: ignore[assignment]
        worker._new_producer = lambda: producers[1]  # type: ignore[assignment, method-assign]
        await worker._flush()  # refused: the large dead letter is made again within REFUSED_BOUND
        assert worker._producer is None and not producers[0].committed
        await worker._flush()  # at once (no backoff): a new producer commits both
        return worker, producers

    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        worker, producers = asyncio.run(commits())
    tp = TopicPartition(worker.resolved.command_topic, 0)
    assert producers[1].committed and producers[1].offsets == {tp: 2} and worker.committed_offsets == {tp: 2}
    letters = [value for topic, value in producers[1].sent if topic == worker.resolved.dlq_topic]
    first, second = (STORE.decode(value, DEAD_LETTER).value for value in letters)
    assert first["value"] is None and value_left_out(first) is not None, "the refused one: without the command"
    assert second["value"] is not None, "the other one, unchanged"
    assert len(letters[0]) <= REFUSED_BOUND
    assert f"cannot hold it within {REFUSED_BOUND} bytes" in first["reason"]
    assert dict(worker.too_large) == {("dead letter", "topic"): 1}
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert error.startswith(f"sink ledgerly: Kafka refused the dead letter of {tp}@0 for {worker.resolved.dlq_topic} "
                            "as too large")
    assert f"Fix: raise max.message.bytes of {worker.resolved.dlq_topic} to at least" in error
    assert "or lower ISTHMUS_SINK_MAX_REQUEST_SIZE to the topic's limit" in error
    metrics = sink_registry(worker)
    assert metrics.get_sample_value("isthmus_sink_records_too_large_total", {
        "target": "ledgerly", "record": "dead_letter", "by": "topic"}) == 1
    assert metrics.get_sample_value("isthmus_sink_commit_failures_total", {"target": "ledgerly"}) == 1
    assert metrics.get_sample_value("isthmus_sink_commit_failing", {"target": "ledgerly"}) == 0


def test_a_dead_letter_over_the_setting_is_made_within_it_said_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    worker = _worker(tmp_path)
    item = _item(worker, 0, "m" * (DEFAULT_MAX_REQUEST_SIZE + 10))
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        output = worker._dead_letter(item, reason="LEDGERLY answered 413", error_type="TargetRefused", attempts=1)
    assert record_size(output.key, output.value, output.headers) <= DEFAULT_MAX_REQUEST_SIZE
    assert dict(worker.too_large) == {("dead letter", "setting"): 1}
    assert any("over the 1048576 bytes the sink produces at most (ISTHMUS_SINK_MAX_REQUEST_SIZE): it is written "
               "without the command's value" in r.getMessage() for r in caplog.records)


def test_commits_failing_in_a_row_are_said_as_an_error_with_the_fix(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    worker = _worker(tmp_path)

    async def fail(times: int) -> None:
        for _ in range(times):
            await worker._commit_failed("commit failed", KafkaConnectionError("broker gone"))

    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        asyncio.run(fail(3))
    levels = [r.levelno for r in caplog.records if r.name == "isthmus.sink"]
    assert levels == [logging.WARNING, logging.WARNING, logging.ERROR]
    error = caplog.records[-1].getMessage()
    assert "attempt 3 in a row, nothing has committed for" in error and "a restart would apply" in error
    assert "Fix: check that the brokers run" in error and "isthmus_sink_commit_failures_total" in error
    assert worker.stats.commit_failures == 3 and worker.commits_failing == 3
