"""`isthmus topics dlq replay --pending` replays only the dead letters still to deal with, as `dlq list --pending`
lists them; `--all` replays every one, and says how many of them had been replayed before (a trial's second --all
re-derived 2,000 letters applied minutes earlier)."""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace
from typing import Any

import pytest

from streams.cli import topics
from streams.sinks import dlq
from streams.sinks.dlq import DeadLetterEntry, ReplayMark

pytestmark = pytest.mark.unit

DLQ = "isthmus.dlq"
REPLAYED = ReplayMark(way="as_stored", where="isthmus.commands.ledger[0]@40")
FAILED_AGAIN = ReplayMark(way="failed_again", where="0:9")


def _letter(offset: int, *replays: ReplayMark, stage: str = "sink.ledger") -> DeadLetterEntry:
    return DeadLetterEntry(partition=0, offset=offset, timestamp_ms=offset, replays=replays,
                           letter={"stage": stage, "reason": "503", "topic": "isthmus.commands.ledger",
                                   "partition": 0, "offset": 100 + offset, "key": b"k", "value": b"v"})


LETTERS = [_letter(0, REPLAYED), _letter(1), _letter(2, REPLAYED), _letter(3, REPLAYED, FAILED_AGAIN),
           _letter(4, stage="flow.ledger-accounts")]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The dead letters replay sends, in order (nothing reaches Kafka)."""
    replayed: list[str] = []

    async def replay(bootstrap: object, topic: str, entries: list[DeadLetterEntry], **_: Any) -> list[Any]:
        replayed.extend(e.address() for e in entries)
        return [SimpleNamespace(entry=e, topic="isthmus.commands.ledger", partition=0, offset=50 + e.offset,
                                flow=None) for e in entries]

    def entries(args: argparse.Namespace, store: object) -> list[DeadLetterEntry]:
        args.topic = args.topic or DLQ
        return LETTERS

    monkeypatch.setattr(topics, "_entries", entries)
    monkeypatch.setattr(topics, "_bootstrap", lambda args: object())
    monkeypatch.setattr(topics, "letter_entity", lambda entry, store, catalog: "L-1")
    monkeypatch.setattr(dlq, "replay", replay)
    return replayed


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    topics.register(parser.add_subparsers())
    args = parser.parse_args(["topics", "dlq", "replay", "--as-stored", "--stale", *argv])
    return int(args.run(args))


def test_pending_replays_only_the_letters_never_replayed_or_failed_again(sent: list[str],
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--pending") == 0
    assert sent == ["0:1", "0:3", "0:4"]
    assert "had been replayed before" not in capsys.readouterr().err


def test_pending_takes_a_stage(sent: list[str]) -> None:
    assert _run("--pending", "--stage", "sink.ledger") == 0
    assert sent == ["0:1", "0:3"]


def test_all_replays_every_letter_and_counts_those_replayed_before(sent: list[str],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--all") == 0
    assert sent == ["0:0", "0:1", "0:2", "0:3", "0:4"]
    assert ("2 of them had been replayed before (--all replays those again; --pending leaves them out)"
            in capsys.readouterr().err)


def test_all_as_json_gives_each_letters_status_before(sent: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--all", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["status_before"] for row in rows] == ["replayed", "pending", "replayed", "failed again", "pending"]


def test_offsets_pending_and_all_exclude_each_other(sent: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--pending", "--all") == 2
    assert _run("0:1", "--pending") == 2
    assert "give the OFFSETs to replay, --pending or --all" in capsys.readouterr().err
    assert sent == []


def test_help_says_all_replays_letters_replayed_before(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _run("--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--pending every pending dead letter" in text and "also those replayed before" in text
