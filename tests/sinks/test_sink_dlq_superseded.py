"""A flow's dead-lettered change of a row is superseded only by a later change of the row that the flow used (the
first such one claims every field: streams.flows.customers.missed), and `dlq settle` marks a dead letter settled
with a note beside it, so it is no longer pending."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from aiokafka import TopicPartition

from streams.cli.topics import register, run_settle
from streams.codecs.avro.single_object import SchemaStore
from streams.kafka.deadletters import REPLAY_HEADER, replay_header
from streams.sinks import dlq
from streams.sinks.records import Original, dead_letter_value

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
TOPIC = "erp.erp.accounts"
ROW = b'{"payload": {"account_id": 701}}'
STAGE = "flow.isthmus-customers"


@dataclass(frozen=True)
class _Record:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


class _Reader:
    """The consumer :func:`dlq.later_changes` reads the original partition with: ``records`` are the partition."""

    def __init__(self, records: list[_Record]) -> None:
        self.records, self.at = records, 0

    def assign(self, _: list[TopicPartition]) -> None:
        pass

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.records) for tp in tps}

    def seek(self, _: TopicPartition, offset: int) -> None:
        self.at = offset

    async def position(self, _: TopicPartition) -> int:
        return self.at

    async def getmany(self, tp: TopicPartition, timeout_ms: int) -> dict[TopicPartition, list[_Record]]:
        batch, self.at = self.records[self.at:], len(self.records)
        return {tp: batch}

    async def stop(self) -> None:
        pass


def _letter(offset: int, at: int, stage: str = STAGE) -> dlq.DeadLetterEntry:
    letter = dead_letter_value(Original(topic=TOPIC, partition=0, offset=at, timestamp_ms=1, key=ROW, value=b"{}"),
                               reason="credit_limit: more than 2 decimals", error_type="Rejected", stage=stage,
                               attempts=1, worker="w")
    return dlq.DeadLetterEntry(partition=0, offset=offset, timestamp_ms=1, letter=letter)


def _stale(monkeypatch: pytest.MonkeyPatch, partition: list[_Record], entries: list[dlq.DeadLetterEntry],
           letters: list[dlq.DeadLetterEntry]) -> dict[str, str]:
    async def reader(_: Any) -> _Reader:
        return _Reader(partition)

    monkeypatch.setattr(dlq, "open_reader", reader)
    return asyncio.run(dlq.stale_changes("kafka:9092", entries, {}, letters=letters))


def test_a_later_change_the_flow_dead_lettered_too_or_a_tombstone_supersedes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    first, again = _letter(0, 1), _letter(1, 2)
    partition = [_Record(0, b"other", b"x"), _Record(1, ROW, b"lost"), _Record(2, ROW, b"lost too"),
                 _Record(3, ROW, None)]
    assert _stale(monkeypatch, partition, [first], [first, again]) == {}
    # a later change the flow used supersedes both: it claimed every field
    partition.append(_Record(4, ROW, b"used"))
    stale = _stale(monkeypatch, partition, [first, again], [first, again])
    assert set(stale) == {"0:0", "0:1"}
    assert "1 later change(s) of it in erp.erp.accounts[0], the last at offset 4" in stale["0:0"]
    assert "the first of them with every field" in stale["0:0"] and "`dlq settle`" in stale["0:0"]


def test_another_flows_dead_letter_of_the_row_is_a_change_this_flow_used(monkeypatch: pytest.MonkeyPatch) -> None:
    first, theirs = _letter(0, 1), _letter(1, 2, stage="flow.isthmus-orders")
    stale = _stale(monkeypatch, [_Record(0, None, b"x"), _Record(1, ROW, b"a"), _Record(2, ROW, b"b")],
                   [first], [first, theirs])
    assert "the last at offset 2" in stale["0:0"]


def test_a_replay_of_an_older_change_supersedes_nothing_though_it_is_later_in_the_log(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a trial: typ='alt', email='old' dead-lettered (0:0), then email='new' dead-lettered (0:1); the first was
    # replayed (a copy at offset 3) and settle --superseded settled the second, newer one: the target kept 'old'
    older, newer = _letter(0, 1), _letter(1, 2)
    copy = replay_header("isthmus.dlq", 0, 0, dt.datetime(2026, 12, 7, tzinfo=dt.UTC), stage=STAGE)
    partition = [_Record(0, b"other", b"x"), _Record(1, ROW, b"old"), _Record(2, ROW, b"new"),
                 _Record(3, ROW, b"old", headers=((REPLAY_HEADER, copy),))]
    assert _stale(monkeypatch, partition, [older, newer], [older, newer]) == {}, (
        "the replayed copy carries the older change's values: neither letter is superseded by it")
    # a replay of the newer letter does supersede the older one
    newest = replay_header("isthmus.dlq", 0, 1, dt.datetime(2026, 12, 7, tzinfo=dt.UTC), stage=STAGE)
    stale = _stale(monkeypatch, [*partition[:3], _Record(3, ROW, b"new", headers=((REPLAY_HEADER, newest),))],
                   [older, newer], [older, newer])
    assert set(stale) == {"0:0"} and "the last at offset 3" in stale["0:0"]


class _Producer:
    sent: ClassVar[list[tuple[str, bytes, bytes | None, int | None]]] = []

    def __init__(self, **_: Any) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send_and_wait(self, topic: str, value: bytes, *, key: bytes | None,
                            partition: int | None) -> Any:
        self.sent.append((topic, value, key, partition))
        return type("Meta", (), {"topic": topic, "partition": 0, "offset": 100 + len(self.sent)})


def test_settle_writes_a_settled_note_and_the_letter_is_no_longer_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dlq, "AIOKafkaProducer", _Producer)
    _Producer.sent = []
    letter = _letter(12, 1)
    assert letter.pending and letter.status == "pending"
    (done,) = asyncio.run(dlq.settle("kafka:9092", "isthmus.dlq", [letter], reasons={"0:12": "superseded by 0@4"},
                                     store=STORE))
    assert done.offset == 101 and done.reason == "superseded by 0@4"
    ((topic, value, key, partition),) = _Producer.sent
    assert (topic, key, partition) == ("isthmus.dlq", ROW, None)
    mark = dlq._replay_mark(STORE, "isthmus.dlq", value)
    assert mark is not None and mark[0] == (0, 12) and mark[1].way == "settled"
    (settled,) = dlq.with_replays([letter], [mark])
    assert not settled.pending and settled.status == "settled"
    assert str(settled.replays[-1]).startswith("settled by isthmus topics dlq settle: superseded by 0@4")


def test_the_settle_command_wants_offsets_with_a_reason_or_superseded(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["topics", "dlq", "settle", "0:3", "1:7", "--reason", "superseded by 0@9"])
    assert args.run is run_settle and args.positions == ["0:3", "1:7"] and args.reason == "superseded by 0@9"
    assert parser.parse_args(["topics", "dlq", "settle", "--superseded"]).superseded
    assert run_settle(parser.parse_args(["topics", "dlq", "settle"])) == 2
    assert run_settle(parser.parse_args(["topics", "dlq", "settle", "0:3"])) == 2
    assert "--reason TEXT" in capsys.readouterr().err
