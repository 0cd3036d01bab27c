"""A sink's dead-lettered command is superseded when later commands of its entity (same target, entity type and
key, payload type), applied, wrote between them every field it carried (streams.sinks.superseded): the trial's
refused creates, sent again once the source was fixed, and the LookupNotFound updates queued behind them; a refused
create whose entity a later change created, or whose fields later updates wrote. A dead letter with a field no later
applied command wrote stays pending."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from sink_support import encoded_command

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks import dlq, superseded
from streams.sinks.records import COMMAND_RESULT, Original, SinkCommand, dead_letter_value, result_applied
from streams.sinks.superseded import AppliedCommand, fields, superseding

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ACCOUNT = {"account_code": "T1", "crm_customer_number": "C-1", "name": "A firm", "email": None, "active": True}


def _command(operation: str, *, at: int, changed: Sequence[str] = (), key: str = "C-1", target: str = "erp",
             payload_type: str = "isthmus.canonical.Account", entity_type: str = "isthmus.canonical.Customer",
             payload: Mapping[str, Any] = ACCOUNT, command_id: str | None = None) -> SinkCommand:
    return SinkCommand(command_id=command_id or f"{operation}-{at}", idempotency_key=f"k-{operation}-{at}",
                       target=target, operation=operation, entity_type=entity_type, entity_key=key,
                       payload_type=payload_type, payload=payload, changed_fields=tuple(changed),
                       created_at=T0 + timedelta(minutes=at))


def _applied(command: SinkCommand, offset: int = 7, at: str = "") -> AppliedCommand:
    return AppliedCommand(command=command, result=f"isthmus.results.erp[1]@{offset}", at=at)


def test_the_fields_a_command_carries() -> None:
    assert fields(_command("create", at=0)) == frozenset(ACCOUNT)
    assert fields(_command("upsert", at=0, changed=("name",))) == frozenset(ACCOUNT), "an upsert writes it whole"
    assert fields(_command("update", at=0, changed=("name", "email"))) == {"name", "email"}
    assert fields(_command("update", at=0)) == frozenset(ACCOUNT), "no changed_fields: a full write"
    assert fields(_command("deactivate", at=0, changed=("active",))) == {"active"}
    assert fields(_command("deactivate", at=0)) is None and fields(_command("cancel", at=0)) is None


def test_a_refused_create_is_superseded_by_the_create_sent_again_with_the_fixed_data() -> None:
    refused = _command("create", at=0)
    again = _command("create", at=5, payload={**ACCOUNT, "name": "A firm (fixed)"})
    assert superseding(refused, [_applied(again)]) == (_applied(again),)
    text = superseded.reason(refused, superseding(refused, [_applied(again, at="isthmus.commands.erp[0]@4")]))
    assert text.startswith("superseded by create create-5 of C-1 (isthmus.commands.erp[0]@4), created "
                           "2026-12-01T09:05:00Z after this create and applied (isthmus.results.erp[1]@7), which wrote "
                           "every field it carried (")
    assert text.endswith("(account_code, active, crm_customer_number, email, name)")
    whole = _command("create", at=0, payload={f"f{i}": i for i in range(8)})
    assert superseded.reason(whole, (_applied(again),)).endswith("(f0, f1, f2, f3, f4, f5, … 8 in all)")
    # an update that wrote every field of it supersedes it too; one that wrote some does not
    assert superseding(refused, [_applied(_command("update", at=5))])
    assert superseding(refused, [_applied(_command("update", at=5, changed=("name",)))]) == ()


def test_an_update_queued_behind_the_refused_create_is_superseded_by_a_later_command_of_its_fields() -> None:
    behind = _command("update", at=1, changed=("name", "email"))
    assert superseding(behind, [_applied(_command("create", at=5))]), "the create carried them"
    assert superseding(behind, [_applied(_command("update", at=5, changed=("email", "name", "active")))])
    assert superseding(behind, [_applied(_command("update", at=5, changed=("email",)))]) == ()


def test_fields_that_several_later_applied_commands_wrote_between_them_supersede() -> None:
    behind = _command("update", at=1, changed=("name", "email"))
    email = _applied(_command("update", at=5, changed=("email",)), 8, at="isthmus.commands.erp[0]@5")
    name = _applied(_command("update", at=6, changed=("name",)), 9, at="isthmus.commands.erp[0]@6")
    phone = _applied(_command("update", at=4, changed=("phone",)), 7)  # wrote none of its fields: not named
    assert superseding(behind, [name, phone, email]) == (email, name)
    assert superseded.reason(behind, (email, name)) == (
        "superseded by 2 later commands of C-1, created after this update and applied, which wrote between them every "
        "field it carried (email, name): update update-5 of C-1 (isthmus.commands.erp[0]@5), created "
        "2026-12-01T09:05:00Z, applied (isthmus.results.erp[1]@8), wrote email; update update-6 of C-1 "
        "(isthmus.commands.erp[0]@6), created 2026-12-01T09:06:00Z, applied (isthmus.results.erp[1]@9), wrote name")
    # a refused create whose every field later applied commands wrote: a create without a field the mapping added
    # since, and an update of that field; a deactivate naming its field counts as writing it
    refused = _command("create", at=0)
    older_create = _command("create", at=5, payload={k: v for k, v in ACCOUNT.items() if k != "email"})
    email_later = _command("update", at=6, changed=("email",))
    assert superseding(refused, [_applied(email_later), _applied(older_create)]) == (
        _applied(older_create), _applied(email_later))
    partly = _command("update", at=5, changed=("account_code", "crm_customer_number", "name", "email"))
    assert superseding(refused, [_applied(partly), _applied(_command("deactivate", at=6, changed=("active",)))])
    # one field no later applied command wrote keeps it pending, however many wrote the others
    assert superseding(refused, [_applied(partly), _applied(_command("deactivate", at=6))]) == ()
    assert superseding(behind, [email, _applied(_command("update", at=0, changed=("name",)))]) == (), "not later"


def test_only_a_later_command_of_the_same_entity_and_payload_type_supersedes() -> None:
    dead = _command("update", at=3, changed=("name",))
    for other in (_command("create", at=2), _command("create", at=3, command_id="a replay of an older one"),
                  _command("create", at=5, key="C-2"), _command("create", at=5, target="crm"),
                  _command("create", at=5, entity_type="isthmus.canonical.Party"),
                  _command("update", at=5, changed=("name",), payload_type="isthmus.canonical.CustomerAccountXref")):
        assert superseding(dead, [_applied(other)]) == (), other
    # of several, the oldest later one is named
    first, second = _command("create", at=4), _command("update", at=6, changed=("name",))
    assert superseding(dead, [_applied(second, 9), _applied(first, 8)]) == (_applied(first, 8),)


def test_a_deactivate_naming_no_field_is_never_superseded_and_one_naming_its_field_is() -> None:
    assert superseding(_command("deactivate", at=0), [_applied(_command("create", at=5))]) == ()
    deactivated = _command("deactivate", at=0, changed=("active",))
    assert superseding(deactivated, [_applied(_command("update", at=5, changed=("active",)))])


def test_a_result_records_a_write_only_with_a_2xx_status() -> None:
    assert result_applied({"status": 201}) and result_applied({"status": 200}) and result_applied({})
    assert not result_applied({"status": 409}), "a business refusal a route declares: its command is not applied"


# superseded_commands: the command and results topics read from the oldest dead-lettered command's time


@dataclass(frozen=True)
class _Record:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


class _Cluster:
    """The consumer :func:`superseded.superseded_commands` reads with: ``topics`` hold the records by partition."""

    def __init__(self, topics: Mapping[str, Mapping[int, list[_Record]]]) -> None:
        self.topics = topics
        self.at: dict[TopicPartition, int] = {}
        self.seeks: dict[TopicPartition, int] = {}
        self._client = self

    async def fetch_all_metadata(self) -> _Cluster:
        return self

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(self.topics[topic]) if topic in self.topics else None

    def assign(self, _: list[TopicPartition]) -> None:
        pass

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.topics[tp.topic][tp.partition]) for tp in tps}

    async def offsets_for_times(self, times: Mapping[TopicPartition, int]) -> dict[TopicPartition, Any]:
        found: dict[TopicPartition, Any] = {}
        for tp, ms in times.items():
            later = [r.offset for r in self.topics[tp.topic][tp.partition] if r.timestamp >= ms]
            found[tp] = type("At", (), {"offset": later[0]}) if later else None
        return found

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at[tp] = offset
        self.seeks.setdefault(tp, offset)

    async def position(self, tp: TopicPartition) -> int:
        return int(self.at[tp])

    async def getmany(self, *tps: TopicPartition, timeout_ms: int) -> dict[TopicPartition, list[_Record]]:
        batches = {}
        for tp in tps:
            records = self.topics[tp.topic][tp.partition]
            batches[tp], self.at[tp] = records[self.at[tp]:], len(records)
        return batches

    async def stop(self) -> None:
        pass


COMMANDS, RESULTS = "isthmus.commands.erp", "isthmus.results.erp"


def _avro(command: SinkCommand) -> bytes:
    return encoded_command(command)


def _ms(command: SinkCommand) -> int:
    assert command.created_at is not None
    return int(command.created_at.timestamp() * 1000)


def _result(command: SinkCommand, status: int) -> bytes:
    return STORE.encode(COMMAND_RESULT, {
        "command_id": command.command_id, "target": command.target, "operation": command.operation, "status": status,
        "entity_key": command.entity_key, "applied_at": command.created_at})


def test_superseded_commands_reads_the_later_commands_and_their_results(monkeypatch: pytest.MonkeyPatch) -> None:
    old = _command("create", at=-60, key="C-0")  # an applied command before the dead letters: not read
    refused = _command("create", at=0)
    behind = _command("update", at=1, changed=("name",))
    stays = _command("update", at=2, key="C-3", changed=("email",))
    again = _command("create", at=5)
    refused_by_route = _command("update", at=6, key="C-3", changed=("email",))  # answered 409: not applied
    sent = [old, refused, behind, stays, again, refused_by_route]
    commands = [_Record(COMMANDS, 0, i, _ms(c), c.entity_key.encode(), _avro(c)) for i, c in enumerate(sent)]
    results = [_Record(RESULTS, 0, 0, _ms(old), b"C-0", _result(old, 201)),
               _Record(RESULTS, 0, 1, _ms(again) + 50, b"C-1", _result(again, 201)),
               _Record(RESULTS, 0, 2, _ms(refused_by_route) + 50, b"C-3", _result(refused_by_route, 409))]
    cluster = _Cluster({COMMANDS: {0: commands}, RESULTS: {0: results}})

    async def reader(_: Any) -> _Cluster:
        return cluster

    monkeypatch.setattr(dlq, "open_reader", reader)

    def letter(at: int, offset: int, stage: str = "sink.erp") -> dlq.DeadLetterEntry:
        original = commands[offset]
        value = dead_letter_value(Original(topic=COMMANDS, partition=0, offset=offset, timestamp_ms=original.timestamp,
                                           key=original.key, value=original.value),
                                  reason="refused", error_type="Http422", stage=stage, attempts=1, worker="w")
        return dlq.DeadLetterEntry(partition=0, offset=at, timestamp_ms=original.timestamp, letter=value)

    letters = [letter(0, 1), letter(1, 2), letter(2, 3), letter(3, 1, stage="flow.isthmus-customers")]
    found = asyncio.run(superseded.superseded_commands("kafka:9092", letters, STORE))
    assert set(found) == {"0:0", "0:1"}, "C-3's later update was refused, and a flow's dead letter is no command"
    assert found["0:0"].startswith("superseded by create create-5 of C-1") and f"({RESULTS}[0]@1)" in found["0:0"]
    assert "(name)" in found["0:1"]
    # the topics are read from the oldest dead-lettered command's time (less the clocks' skew), not from the start
    assert cluster.seeks == {TopicPartition(COMMANDS, 0): 1, TopicPartition(RESULTS, 0): 1}
    # a results topic of the sink's own (ISTHMUS_SINK_RESULTS_TOPIC) is where the results are looked for
    assert asyncio.run(superseded.superseded_commands("kafka:9092", letters, STORE, results="elsewhere")) == {}


def test_a_refused_create_of_a_made_up_ledger_is_settled_by_the_later_commands_that_wrote_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A renumbered supplier's create was refused by a ledger's API (409, its tax number still held by the old key);
    later changes of the entity were applied: an update of the name and tax number once the old key was gone, then
    one of its bank account and blocked flag. Between them they wrote every field the refused create carried."""
    vendor = {"vendor_code": "S-NEW7", "legal_name": "Nordholz", "tax_no": "DE-77", "bank_account": None,
              "blocked": False}
    kind = {"target": "ledger", "key": "S-NEW7", "payload_type": "isthmus.canonical.Account",
            "entity_type": "isthmus.canonical.Supplier", "payload": vendor}
    refused = _command("create", at=0, **kind)
    first = _command("update", at=3, changed=("vendor_code", "legal_name", "tax_no"), **kind)
    refused_again = _command("update", at=4, changed=("bank_account",), **kind)  # answered 409: not applied
    second = _command("update", at=5, changed=("bank_account", "blocked"), **kind)
    sent = [refused, first, refused_again, second]
    topic = "isthmus.commands.ledger"
    commands = [_Record(topic, 0, i, _ms(c), b"S-NEW7", encoded_command(c)) for i, c in enumerate(sent)]
    results = [_Record("isthmus.results.ledger", 0, i, _ms(c) + 50, b"S-NEW7", _result(c, status))
               for i, (c, status) in enumerate([(first, 200), (refused_again, 409), (second, 200)])]
    cluster = _Cluster({topic: {0: commands}, "isthmus.results.ledger": {0: results}})

    async def reader(_: Any) -> _Cluster:
        return cluster

    monkeypatch.setattr(dlq, "open_reader", reader)
    original = commands[0]
    value = dead_letter_value(Original(topic=topic, partition=0, offset=0, timestamp_ms=original.timestamp,
                                       key=original.key, value=original.value),
                              reason='LEDGER answered 409 to POST /vendors: {"error":"tax_no already belongs to '
                                     'another vendor"}', error_type="Http409", stage="sink.ledger", attempts=1,
                              worker="w")
    letter = dlq.DeadLetterEntry(partition=0, offset=8036, timestamp_ms=original.timestamp, letter=value)
    found = asyncio.run(superseded.superseded_commands("kafka:9092", [letter], STORE))
    assert found == {"0:8036": (
        "superseded by 2 later commands of S-NEW7, created after this create and applied, which wrote between them "
        "every field it carried (bank_account, blocked, legal_name, tax_no, vendor_code): update update-3 of S-NEW7 "
        "(isthmus.commands.ledger[0]@1), created 2026-12-01T09:03:00Z, applied (isthmus.results.ledger[0]@0), wrote "
        "legal_name, tax_no, vendor_code; update update-5 of S-NEW7 (isthmus.commands.ledger[0]@3), created "
        "2026-12-01T09:05:00Z, applied (isthmus.results.ledger[0]@2), wrote bank_account, blocked")}
    # without the second update, bank_account and blocked were never written again: it stays pending
    cluster.topics["isthmus.results.ledger"][0][2] = _Record("isthmus.results.ledger", 0, 2, _ms(second) + 50,
                                                             b"S-NEW7", _result(second, 409))
    assert asyncio.run(superseded.superseded_commands("kafka:9092", [letter], STORE)) == {}


def test_settle_superseded_settles_the_sink_letters_the_rule_names(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from streams.cli import topics

    parser = argparse.ArgumentParser()
    topics.register(parser.add_subparsers())
    assert topics.run_settle(parser.parse_args(["topics", "dlq", "settle", "0:1", "--reason", "x",
                                                "--results-topic", "r"])) == 2
    assert "--results-topic goes with --superseded" in capsys.readouterr().err

    def letter(offset: int, stage: str) -> dlq.DeadLetterEntry:
        value = dead_letter_value(Original(topic=COMMANDS, partition=0, offset=offset, timestamp_ms=1, key=b"C-1",
                                           value=b"{}"), reason="refused", error_type="Http422", stage=stage,
                                  attempts=1, worker="w")
        return dlq.DeadLetterEntry(partition=0, offset=offset, timestamp_ms=1, letter=value)

    letters = [letter(0, "sink.erp"), letter(1, "sink.erp"), letter(2, "flow.isthmus-customers")]
    asked: dict[str, Any] = {}

    async def stale(_: Any, pending: Sequence[dlq.DeadLetterEntry], *__: Any, **___: Any) -> dict[str, str]:
        return {"0:2": "its row changed since: … (`dlq settle` settles it)"}

    async def commands(_: Any, pending: Sequence[dlq.DeadLetterEntry], __: Any, *, results: str | None) -> dict[
            str, str]:
        asked.update(pending=[e.address() for e in pending], results=results)
        return {"0:0": "superseded by create c-5 of C-1, …"}

    async def settle(_: Any, __: str, entries: Sequence[dlq.DeadLetterEntry], *, reasons: Mapping[str, str],
                     **___: Any) -> list[dlq.Settled]:
        return [dlq.Settled(entry=e, reason=reasons[e.address()], offset=10 + i) for i, e in enumerate(entries)]

    monkeypatch.setattr(topics, "_entries", lambda args, store: (setattr(args, "topic", "isthmus.dlq"), letters)[1])
    monkeypatch.setattr(topics, "_bootstrap", lambda args: "kafka:9092")
    monkeypatch.setattr(dlq, "stale_changes", stale)
    monkeypatch.setattr(topics, "superseded_commands", commands)
    monkeypatch.setattr(dlq, "settle", settle)
    assert topics.run_settle(parser.parse_args(["topics", "dlq", "settle", "--superseded", "--results-topic",
                                                "test.results"])) == 0
    assert asked == {"pending": ["0:0", "0:1", "0:2"], "results": "test.results"}
    out = capsys.readouterr()
    assert out.out.splitlines() == ["settled 0:0 (sink.erp): superseded by create c-5 of C-1, …",
                                    "settled 0:2 (flow.isthmus-customers): superseded: its row changed since: …"]
    assert "2 settled" in out.err

    # --dry-run lists what it would settle, each with the later commands that made it moot, and writes nothing
    async def no_settle(*_: Any, **__: Any) -> list[dlq.Settled]:
        raise AssertionError("--dry-run wrote a note")

    monkeypatch.setattr(dlq, "settle", no_settle)
    assert topics.run_settle(parser.parse_args(["topics", "dlq", "settle", "--superseded", "--dry-run"])) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["would settle 0:0 (sink.erp): superseded by create c-5 of C-1, …",
                                    "would settle 0:2 (flow.isthmus-customers): superseded: its row changed since: …"]
    assert "2 would settle (--dry-run: nothing written)" in out.err
