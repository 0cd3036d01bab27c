"""`isthmus topics dlq list|show|replay|settle --json` print JSON lines, as every inspect command does: one
self-contained object per dead letter, naming its dead-letter topic, for jq."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from streams.cli import topics as cli
from streams.codecs.avro.single_object import SchemaStore
from streams.sinks import dlq
from streams.sinks.records import Original, dead_letter_value

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
DLQ = "isthmus.dlq"
ROW = json.dumps({"schema": {"type": "struct", "optional": False, "name": "erp.erp.accounts.Key",
                             "fields": [{"field": "account_id", "type": "int64", "optional": False}]},
                  "payload": {"account_id": 701}}).encode()


def _letter(offset: int, stage: str = "flow.isthmus-customers") -> dlq.DeadLetterEntry:
    letter = dead_letter_value(Original(topic="erp.erp.accounts", partition=0, offset=offset, timestamp_ms=1, key=ROW,
                                        value=b"{}"), reason="credit_limit: more than 2 decimals",
                               error_type="Rejected", stage=stage, attempts=1, worker="w")
    return dlq.DeadLetterEntry(partition=0, offset=offset, timestamp_ms=1_700_000_000_000, letter=letter)


LETTERS = [_letter(3), _letter(4, stage="sink.erp")]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Runs ``isthmus topics dlq ARGS`` over :data:`LETTERS` (no broker) and gives back its stdout's JSON lines."""

    def entries(args: argparse.Namespace, _: SchemaStore) -> list[dlq.DeadLetterEntry]:
        args.topic = args.topic or DLQ
        return list(LETTERS)

    async def stale(_: object, picked: Sequence[dlq.DeadLetterEntry], rederive: Mapping[str, str], *,
                    letters: object = None) -> dict[str, str]:
        return {e.address(): "its row changed since" for e in picked if e.offset == 3}

    async def replay(_: object, topic: str, picked: Sequence[dlq.DeadLetterEntry], **__: object) -> list[Any]:
        return [dlq.Replayed(entry=e, topic=e.letter["topic"], partition=0, offset=90 + e.offset) for e in picked]

    async def settle(_: object, topic: str, picked: Sequence[dlq.DeadLetterEntry], *, reasons: Mapping[str, str],
                     **__: object) -> list[dlq.Settled]:
        return [dlq.Settled(entry=e, reason=reasons[e.address()], offset=50 + e.offset) for e in picked]

    monkeypatch.setattr(cli, "_entries", entries)
    monkeypatch.setattr(cli, "_bootstrap", lambda args: "kafka:9092")
    monkeypatch.setattr(dlq, "stale_changes", stale)
    monkeypatch.setattr(dlq, "replay", replay)
    monkeypatch.setattr(dlq, "settle", settle)
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())

    def invoke(*words: str) -> list[dict[str, Any]]:
        args = parser.parse_args(["topics", "dlq", *words, "--json"])
        assert args.run(args) == 0
        lines = capsys.readouterr().out.splitlines()
        return [json.loads(line) for line in lines]  # each line one JSON object on its own

    return invoke


def test_list_prints_one_line_per_dead_letter_each_naming_its_topic(run: Any) -> None:
    listed = run("list")
    assert [(d["topic"], d["partition"], d["offset"], d["stage"]) for d in listed] == [
        (DLQ, 0, 3, "flow.isthmus-customers"), (DLQ, 0, 4, "sink.erp")]
    assert listed[0]["entity"] == "account_id=701" and listed[0]["status"] == "pending"
    assert [d["offset"] for d in run("list", "--stage", "sink.erp", "--topic", "other.dlq")] == [4]
    assert run("list", "--topic", "other.dlq")[0]["topic"] == "other.dlq"


def test_show_prints_one_line(run: Any) -> None:
    (shown,) = run("show", "0:4")
    assert (shown["topic"], shown["offset"], shown["dead_letter"]["stage"]) == (DLQ, 4, "sink.erp")
    assert shown["dead_letter"]["key"] == {"account_id": 701}


def test_replay_prints_one_line_per_dead_letter_replayed_or_skipped_in_the_order_given(run: Any) -> None:
    done = run("replay", "0:4", "0:3")
    assert [(d["topic"], d["dead_letter"], d["outcome"]) for d in done] == [
        (DLQ, "0:4", "replayed"), (DLQ, "0:3", "skipped")]
    assert done[0]["way"] == "as_stored" and done[0]["to"] == "erp.erp.accounts[0]@94"
    assert done[1]["why"] == "its row changed since" and done[1]["entity"] == "account_id=701"


def test_settle_prints_one_line_per_settled_dead_letter(run: Any) -> None:
    assert run("settle", "0:3", "--reason", "superseded by 0@9") == [
        {"topic": DLQ, "dead_letter": "0:3", "stage": "flow.isthmus-customers", "reason": "superseded by 0@9",
         "note": f"{DLQ}[0]@53"}]


def test_a_settled_dead_letter_is_not_replayed_unless_asked(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # a trial replayed a create settled as superseded: the stale create was sent, refused again, a new dead letter
    settled = dlq.DeadLetterEntry(partition=0, offset=4, timestamp_ms=1, letter=LETTERS[1].letter,
                                  replays=(dlq.ReplayMark(way="settled", where="isthmus topics dlq settle: fixed"),))
    monkeypatch.setattr(cli, "_entries", lambda args, _: (setattr(args, "topic", args.topic or DLQ), [settled])[1])
    (skipped,) = run("replay", "0:4")
    assert skipped["outcome"] == "skipped" and skipped["why"].startswith("it was settled by isthmus topics dlq settle")
    assert "--stale replays it anyway" in skipped["why"]
    (done,) = run("replay", "0:4", "--stale")
    assert done["outcome"] == "replayed"
