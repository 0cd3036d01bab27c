"""Dead letters: what a sink writes, how a replay is marked, how show masks personal data."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from streams.cli.topics import MASK, describe, mask
from streams.codecs.avro.single_object import SchemaStore
from streams.kafka.deadletters import value_left_out, without_value
from streams.sinks.dlq import (
    REPLAY_NOTE,
    DeadLetterEntry,
    _marks,
    _replay_mark,
    parse_address,
    pick,
    replay,
    replay_headers,
    with_replays,
)
from streams.sinks.exceptions import DeadLetterNotFound, DeadLetterNotReplayable
from streams.sinks.records import Original, dead_letter_value, replay_note, response_json
from streams.sinks.topics import REPLAY_HEADER

STORE = SchemaStore.from_directory()


def entry(headers: list[dict[str, object]] | None = None, value: bytes | None = b"\x00") -> DeadLetterEntry:
    letter = dead_letter_value(Original(topic="isthmus.commands.erp", partition=2, offset=40, timestamp_ms=1,
                                        key=b"C-000001", value=value), reason="422", error_type="Http422",
                               stage="sink.erp", attempts=1, worker="w")
    letter["headers"] = headers or []
    return DeadLetterEntry(partition=0, offset=7, timestamp_ms=1_700_000_000_000, letter=letter)


def test_a_dead_letter_keeps_the_original_record() -> None:
    original = Original(topic="t", partition=1, offset=9, timestamp_ms=1_700_000_000_123, key=b"k", value=b"v",
                        headers=(("h", b"x"),))
    letter = dead_letter_value(original, reason="why", error_type="E", stage="sink.crm", attempts=3, worker="w")
    assert letter["topic"] == "t" and letter["partition"] == 1 and letter["offset"] == 9
    assert letter["key"] == b"k" and letter["value"] == b"v" and letter["headers"] == [{"key": "h", "value": b"x"}]
    assert letter["timestamp"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    decoded = STORE.decode(STORE.encode("DeadLetter", letter), "DeadLetter").value
    assert decoded["reason"] == "why" and decoded["attempts"] == 3


def test_a_replayed_record_that_fails_again_says_so() -> None:
    note = json.dumps({"dlq_topic": "isthmus.dlq", "dlq_partition": 0, "dlq_offset": 12}).encode()
    original = Original(topic="t", partition=0, offset=1, timestamp_ms=None, key=None, value=b"v",
                        headers=((REPLAY_HEADER, note),))
    letter = dead_letter_value(original, reason="422 no product", error_type="Http422", stage="sink.erp",
                               attempts=1, worker="w")
    assert letter["reason"] == "failed again after a replay of isthmus.dlq[0]@12: 422 no product"
    assert replay_note(()) is None


def test_replay_headers_replace_an_earlier_replay_mark_and_address_the_letters_stage() -> None:
    old: dict[str, object] = {"key": REPLAY_HEADER, "value": b"{}"}
    headers = replay_headers(entry([{"key": "trace", "value": b"1"}, old]), "isthmus.dlq",
                             now=datetime(2026, 1, 1, tzinfo=UTC))
    assert headers[0] == ("trace", b"1") and len(headers) == 2
    assert json.loads(headers[1][1]) == {"dlq_topic": "isthmus.dlq", "dlq_partition": 0, "dlq_offset": 7,
                                         "replayed_at": "2026-01-01T00:00:00+00:00", "stage": "sink.erp"}


def test_addresses_are_offsets_or_partition_offset_pairs() -> None:
    assert parse_address("12") == (0, 12) and parse_address("3:12") == (3, 12)
    with pytest.raises(DeadLetterNotFound, match="is not an offset"):
        parse_address("twelve")
    with pytest.raises(DeadLetterNotFound, match="has no dead letter at 0:8"):
        pick([entry()], ["8"], "isthmus.dlq")
    assert pick([entry()], ["0:7"], "isthmus.dlq")[0].offset == 7


def test_mask_replaces_nested_paths_and_leaves_nulls() -> None:
    value = {"a": {"b": "secret", "c": None}, "items": [{"b": "x"}, {"b": "y"}], "keep": 1}
    assert mask(value, ["a.b", "a.c", "items.b"]) == {"a": {"b": MASK, "c": None},
                                                      "items": [{"b": MASK}, {"b": MASK}], "keep": 1}


def test_show_masks_personal_data_unless_asked() -> None:
    command = {"command_id": "c", "idempotency_key": "k", "target": "erp", "operation": "create",
               "entity_type": "t", "entity_key": "C-000001", "payload_type": "p",
               "payload": json.dumps({"name": "Li Wei"}), "changed_fields": [],
               "source": {"system": "crm", "connector": "c", "database": "d", "table": "t",
                          "commit_time": datetime.now(UTC)},
               "causation": {"event_id": "e"}, "created_at": datetime.now(UTC)}
    letter = entry(value=STORE.encode("Command", command))
    masked = describe(letter, STORE, show_pii=False)
    # values are masked; the entity key is shown, as `dlq list`, `tail` and `trace` show it
    assert masked["value_decoded"]["value"]["payload"] == MASK and masked["dead_letter"]["key"] == "C-000001"
    assert "Li Wei" not in json.dumps(masked)
    shown = describe(letter, STORE, show_pii=True)
    assert shown["value_decoded"]["value"]["payload"] == {"name": "Li Wei"}
    assert shown["dead_letter"]["key"] == "C-000001"


def test_a_huge_response_is_not_copied_into_the_result() -> None:
    assert response_json({"a": 1}) == '{"a": 1}' and response_json(None) is None
    assert json.loads(response_json({"blob": "x" * 300_000}) or "") == {"isthmus_truncated": True,
                                                                        "chars": 300_012}


def test_dlq_list_cuts_a_long_reason_in_its_middle_keeping_the_targets_words() -> None:
    from streams.cli.topics import _shortened

    reason = ("HELPDESK answered 200 to GET /kontakte?kd_nr={account_code} by account_code, POST /kontakte if none, "
              "else PATCH /kontakte/{$id} with an error: Feld 'name' ist zu lang (60 Zeichen, höchstens 40 erlaubt)")
    short = _shortened(reason)
    assert len(short) == 120 and short.startswith("HELPDESK answered 200 to ")
    assert " … " in short
    assert short.endswith("with an error: Feld 'name' ist zu lang (60 Zeichen, höchstens 40 erlaubt)")
    assert _shortened("ERP answered 422 to POST /orders: no product") == "ERP answered 422 to POST /orders: no product"


def test_a_dead_letter_carries_its_replays_and_a_failed_one_leaves_it_pending() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    note = STORE.encode(REPLAY_NOTE, {"dlq_topic": "isthmus.dlq", "dlq_partition": 0, "dlq_offset": 7,
                                      "replayed_to": "isthmus.commands.erp[2]@41", "replayed_at": at})
    mark = _replay_mark(STORE, "isthmus.dlq", note)
    assert mark is not None and mark[0] == (0, 7) and str(mark[1]) == (
        "replayed as stored to isthmus.commands.erp[2]@41 2026-01-01T00:00:00Z")
    assert _replay_mark(STORE, "another.dlq", note) is None, "a note of another dead-letter topic"
    first = entry()
    (replayed,) = with_replays([first], _marks([first], [mark]))
    assert replayed.replays == (mark[1],) and not replayed.pending
    replay = json.dumps({"dlq_topic": "isthmus.dlq", "dlq_partition": 0, "dlq_offset": 7}).encode()
    again = DeadLetterEntry(partition=0, offset=9, timestamp_ms=1_800_000_000_000,
                            letter={**first.letter, "headers": [{"key": REPLAY_HEADER, "value": replay}]})
    failed, second = with_replays([again, first], _marks([again, first], [mark]))
    assert [m.way for m in failed.replays] == ["as_stored", "failed_again"] and failed.pending
    assert failed.replays[1].where == "0:9" and second.pending and second.replays == ()


def test_the_dashboard_names_a_dead_letters_entity_as_the_cli_does() -> None:
    """A flow's dead letter of a Debezium record is about the row its key names (``id=42``), on the dashboard as in
    ``isthmus topics dlq list``: not the key's raw JSON, and a key column named like a personal field masked."""
    from streams.dashboard.app import _letter_row
    from streams.inspect.decoding import letter_entity
    from streams.inspect.masking import PiiCatalog

    key = json.dumps({"schema": {"type": "struct", "fields": [
        {"field": "id", "type": "int32", "optional": False},
        {"field": "email", "type": "string", "optional": False}], "optional": False, "name": "crm.crm.x.Key"},
        "payload": {"id": 42, "email": "anna@example.com"}}).encode()
    letter = dead_letter_value(Original(topic="crm.crm.customers", partition=0, offset=3, timestamp_ms=1, key=key,
                                        value=b"{}"), reason="refused", error_type="MappingValueError",
                               stage="flow.isthmus-customers", attempts=1, worker="w")
    letter["headers"] = []
    found = DeadLetterEntry(partition=0, offset=8, timestamp_ms=1, letter=letter)
    catalog = PiiCatalog.load(STORE.schemas)
    row = _letter_row(found, STORE, catalog)
    assert row["entity"] == letter_entity(found, STORE, catalog)
    assert row["entity"].startswith("email=") and "anna@example.com" not in row["entity"]
    assert row["entity"].endswith("id=42")


def test_a_dead_letter_without_its_too_large_value_is_refused_for_a_replay_before_anything_is_sent() -> None:
    """Replayed as stored, it would write the record with no value (a tombstone) to the topic it came from."""
    whole = entry(value=b"v" * 5000)
    kept_out = DeadLetterEntry(partition=0, offset=8, timestamp_ms=1, letter=without_value(whole.letter, 4096))
    decoded = STORE.decode(STORE.encode("DeadLetter", kept_out.letter), "DeadLetter").value
    assert decoded["value"] is None and value_left_out(decoded) == 5000 and value_left_out(whole.letter) is None
    assert decoded["reason"].startswith("422. The record's value (5000 bytes) is left out of this dead letter")
    with pytest.raises(DeadLetterNotReplayable) as refused:  # no broker at 127.0.0.1:9: refused before any call
        asyncio.run(replay("127.0.0.1:9", "isthmus.dlq", [whole, kept_out]))
    text = str(refused.value)
    assert text.startswith("isthmus.dlq: dead letter(s) 0:8 (the value of isthmus.commands.erp[2]@40, 5000 bytes) "
                           "do not keep their original value")
    assert "0:7" not in text and "isthmus topics dlq settle" in text
