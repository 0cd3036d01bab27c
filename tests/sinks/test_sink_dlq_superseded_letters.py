"""A sink's pending dead letter is superseded by a later pending dead letter of the same refusal (target, entity
type and key, payload type, operation: streams.sinks.superseded.repeated_letters). A trial snapshotted both source
tables twice: each refused create was sent again and dead-lettered again for the same reason, 528 entities with two
or more pending letters, and `dlq settle --superseded` settled none of them, since no later command was applied.
Now the older letters are settled naming the newer one, which stays pending, and `dlq list` marks them."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sink_support import encoded_command

from streams.cli import topics
from streams.codecs.avro.single_object import SchemaStore
from streams.sinks import dlq
from streams.sinks.records import Original, SinkCommand, dead_letter_value
from streams.sinks.superseded import repeated_letters, repeated_reason

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
COMMANDS = "isthmus.commands.kasse"
MEMBER = {"member_no": "M-7", "name": "Lena", "email": "", "active": True}
EMPTY_EMAIL = "kasse answered 422 to POST /members: email must not be empty"


def _command(operation: str, *, at: int, key: str = "M-7", changed: Sequence[str] = (),
             payload_type: str = "isthmus.canonical.Account") -> SinkCommand:
    return SinkCommand(command_id=f"{operation}-{key}-{at}", idempotency_key=f"k-{at}", target="kasse",
                       operation=operation, entity_type="isthmus.canonical.Customer", entity_key=key,
                       payload_type=payload_type, payload=MEMBER, changed_fields=tuple(changed),
                       created_at=T0 + timedelta(minutes=at))


def _letter(offset: int, command: SinkCommand, *, reason: str = EMPTY_EMAIL, partition: int = 0,
            replays: tuple[dlq.ReplayMark, ...] = ()) -> dlq.DeadLetterEntry:
    assert command.created_at is not None
    ms = int(command.created_at.timestamp() * 1000)
    value = encoded_command(command, system="vereine")
    letter = dead_letter_value(Original(topic=COMMANDS, partition=0, offset=offset, timestamp_ms=ms,
                                        key=command.entity_key.encode(), value=value),
                               reason=reason, error_type="Http422", stage="sink.kasse", attempts=1, worker="w")
    return dlq.DeadLetterEntry(partition=partition, offset=offset, timestamp_ms=ms + 100, letter=letter,
                               replays=replays)


def _snapshots() -> list[dlq.DeadLetterEntry]:
    """M-7's create refused at first and after each of two snapshots; M-8's once; an update behind M-7's create."""
    return [_letter(0, _command("create", at=0)), _letter(1, _command("create", at=0, key="M-8")),
            _letter(2, _command("update", at=1, changed=("name",))),
            _letter(3, _command("create", at=60)), _letter(4, _command("create", at=120), reason="refused again")]


def test_the_latest_pending_letter_of_a_refusal_supersedes_the_older_ones() -> None:
    letters = _snapshots()
    repeated = {a: newer.address() for a, newer in repeated_letters(letters, STORE).items()}
    assert repeated == {"0:0": "0:4", "0:3": "0:4"}, "M-8's only letter and the update are no one's repeats"
    text = repeated_reason(letters[4], STORE)
    assert text == ("superseded by dead letter 0:4, a later refusal of this create of M-7 (command create-M-7-120), "
                    "still pending: replay or settle that one (refused again)")


def test_only_pending_letters_of_the_same_operation_payload_type_and_fields_count() -> None:
    settled = dlq.ReplayMark(way="settled", where="isthmus topics dlq settle: no longer wanted")
    letters = [_letter(0, _command("create", at=0)),
               _letter(1, _command("create", at=60), replays=(settled,)),  # settled: not the current refusal
               _letter(2, _command("create", at=90, payload_type="isthmus.canonical.CustomerAccountXref")),
               _letter(3, _command("update", at=1, changed=("name", "email"))),
               _letter(4, _command("update", at=61, changed=("email",))),  # carries less: repeats no older one
               _letter(5, _command("update", at=62, changed=("name", "email", "active")))]
    repeated = {a: newer.address() for a, newer in repeated_letters(letters, STORE).items()}
    assert repeated == {"0:3": "0:5", "0:4": "0:5"}


def test_a_replay_as_stored_that_failed_again_repeats_the_letter_it_replayed() -> None:
    create = _command("create", at=0)
    first = _letter(0, create, replays=(dlq.ReplayMark(way="failed_again", where="1:9"),))
    again = _letter(9, create, partition=1)
    again = dlq.DeadLetterEntry(partition=1, offset=9, timestamp_ms=first.timestamp_ms + 5000, letter=again.letter)
    assert {a: n.address() for a, n in repeated_letters([again, first], STORE).items()} == {"0:0": "1:9"}
    # an older command replayed as stored, failing after a newer one's letter, is the older refusal still
    newer = _letter(3, _command("create", at=60))
    late = dlq.DeadLetterEntry(partition=0, offset=4, timestamp_ms=newer.timestamp_ms + 5000, letter=first.letter)
    assert {a: n.address() for a, n in repeated_letters([newer, late], STORE).items()} == {"0:4": "0:3"}


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    topics.register(parser.add_subparsers())
    letters = _snapshots()
    monkeypatch.setattr(topics, "_entries", lambda args, store: (setattr(args, "topic", "isthmus.dlq"), letters)[1])
    monkeypatch.setattr(topics, "_bootstrap", lambda args: "kafka:9092")
    return parser


def test_settle_superseded_settles_the_older_letters_and_leaves_the_latest(
        cli: argparse.ArgumentParser, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    async def nothing(*_: Any, **__: Any) -> dict[str, str]:
        return {}  # no flow letter is stale, and no later command was applied

    async def settle(_: Any, __: str, entries: Sequence[dlq.DeadLetterEntry], *, reasons: Mapping[str, str],
                     **___: Any) -> list[dlq.Settled]:
        return [dlq.Settled(entry=e, reason=reasons[e.address()], offset=10 + i) for i, e in enumerate(entries)]

    monkeypatch.setattr(dlq, "stale_changes", nothing)
    monkeypatch.setattr(topics, "superseded_commands", nothing)
    monkeypatch.setattr(dlq, "settle", settle)
    assert topics.run_settle(cli.parse_args(["topics", "dlq", "settle", "--superseded"])) == 0
    out = capsys.readouterr()
    assert [line.split()[1] for line in out.out.splitlines()] == ["0:0", "0:3"], "0:4 stays pending"
    assert all("superseded by dead letter 0:4, a later refusal of this create of M-7" in line
               for line in out.out.splitlines())
    assert "2 settled" in out.err


def test_list_pending_marks_the_repeated_letters_and_the_one_repeating_them(
        cli: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]) -> None:
    assert topics.run_list(cli.parse_args(["topics", "dlq", "list", "--pending", "--json"])) == 0
    rows = {f"{r['partition']}:{r['offset']}": r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {a: (r["repeated_by"], r["repeats"]) for a, r in rows.items()} == {
        "0:0": ("0:4", 0), "0:1": (None, 0), "0:2": (None, 0), "0:3": ("0:4", 0), "0:4": (None, 2)}
    assert topics.run_list(cli.parse_args(["topics", "dlq", "list", "--pending"])) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert "[repeated by 0:4] kasse answered 422" in lines[0] and "[repeats 2 older] refused again" in lines[4]
    assert "[" not in lines[1]
    assert "2 pending dead letter(s) repeated by a later pending one" in out.err
