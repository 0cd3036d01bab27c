"""Masking hides values, never names: an update of a personal column still says which column changed, and a
dead letter's key reads the same in `dlq list` and `dlq show`: decoded to its columns, masked by the one rule
every inspect command applies to keys (an entity's number is shown, a key column named like a personal field is
not)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.cli import topics
from streams.cli.main import build_parser
from streams.codecs.avro.single_object import SchemaStore
from streams.inspect.decoding import Decoded, RawRecord, key_label, masked, summary
from streams.inspect.masking import MASK, PiiCatalog
from streams.kafka.deadletters import Original, dead_letter_value
from streams.sinks.dlq import DeadLetterEntry

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
CATALOG = PiiCatalog.load(STORE.schemas)


def _update(before: dict[str, Any], after: dict[str, Any]) -> Decoded:
    raw = RawRecord(topic="crm.crm.customers", partition=0, offset=3, timestamp_ms=0, key=None, value=b"")
    return Decoded(raw=raw, kind="debezium", key={"id": 7}, system="crm", table="customers",
                   value={"op": "u", "before": before, "after": after, "source": {}, "ts_ms": 0})


def test_an_update_of_a_personal_column_names_the_column_not_its_values() -> None:
    record = _update({"id": 7, "name": "Ada", "phone": "1"}, {"id": 7, "name": "Ada Lovelace", "phone": "1"})
    hidden = masked(record, CATALOG)
    assert hidden.value["after"]["name"] == hidden.value["before"]["name"] == MASK
    assert summary(hidden) == summary(record) == "u crm.customers id=7 changed: name"
    assert "Ada" not in json.dumps(hidden.value) + summary(hidden)
    unchanged = masked(_update({"id": 7, "name": "Ada"}, {"id": 7, "name": "Ada"}), CATALOG)
    assert summary(unchanged).endswith("changed: -"), "an update that changed nothing still says so"


DEBEZIUM_KEY = json.dumps({"schema": {"type": "struct", "fields": [
    {"type": "string", "optional": False, "field": "kd_nr"}], "optional": False, "name": "vertrieb.kunden.Key"},
    "payload": {"kd_nr": "K-0005"}}).encode()
PERSONAL_KEY = json.dumps({"schema": {"type": "struct", "fields": [
    {"type": "string", "optional": False, "field": "email"}], "optional": False},
    "payload": {"email": "ada@example.com"}}).encode()


def _letter(offset: int, key: bytes | None) -> DeadLetterEntry:
    letter = dead_letter_value(Original(topic="vertrieb.vertrieb.kunden", partition=0, offset=offset,
                                        timestamp_ms=1, key=key, value=b'{"payload": {}}'),
                               reason="no such field", error_type="MappingValueError", stage="flow.isthmus-kunden",
                               attempts=1, worker="w")
    return DeadLetterEntry(partition=0, offset=offset, timestamp_ms=1_700_000_000_000, letter=letter)


LETTERS = [_letter(5, DEBEZIUM_KEY), _letter(6, PERSONAL_KEY), _letter(7, None)]


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    monkeypatch.setattr(topics, "_entries", lambda args, store: LETTERS)
    args = build_parser("topics").parse_args(["topics", "dlq", *argv, "--topic", "isthmus.dlq"])
    assert args.run(args) == 0
    return capsys.readouterr().out


def test_dlq_list_and_show_give_a_key_alike(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    listed = _run(monkeypatch, capsys, "list").splitlines()
    assert [line.split()[3] for line in listed] == ["kd_nr=K-0005", f"email={MASK}", "-"]
    assert '"schema"' not in "".join(listed) and "ada@" not in "".join(listed)
    rows = [json.loads(line) for line in _run(monkeypatch, capsys, "list", "--json").splitlines()]
    assert [row["entity"] for row in rows] == ["kd_nr=K-0005", f"email={MASK}", "-"]
    for offset, label in (("5", "kd_nr=K-0005"), ("6", f"email={MASK}"), ("7", "-")):
        shown = _run(monkeypatch, capsys, "show", offset)
        assert f"  key: {label}\n" in shown and "ada@" not in shown
    document = json.loads(_run(monkeypatch, capsys, "show", "6", "--json"))
    assert document["dead_letter"]["key"] == {"email": MASK}
    assert json.loads(_run(monkeypatch, capsys, "show", "5", "--json"))["dead_letter"]["key"] == {"kd_nr": "K-0005"}


def test_show_pii_shows_the_key_decoded(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ISTHMUS_TOKENS", raising=False)
    monkeypatch.setenv("ISTHMUS_HOME", "/nonexistent-isthmus-home")  # no tokens: the local user is trusted
    assert "  key: email=ada@example.com\n" in _run(monkeypatch, capsys, "show", "6", "--show-pii")


def test_a_key_on_one_line() -> None:
    assert key_label({"order_id": 1, "line_no": 2}) == "line_no=2 order_id=1"
    assert (key_label("C-000001"), key_label(None), key_label(42)) == ("C-000001", "-", "42")


def test_a_table_line_shows_a_composite_key_by_its_columns_whole() -> None:
    from streams.inspect.output import table_line

    raw = RawRecord(topic="helpdesk.helpdesk.kontakt_telefone", partition=0, offset=3, timestamp_ms=0, key=None,
                    value=b"")
    composite = Decoded(raw=raw, kind="debezium", key={"mandant": 1, "kd_nr": "C-900001", "art": "haupt"},
                        system="helpdesk", table="kontakt_telefone",
                        value={"op": "c", "before": None, "after": {}, "source": {}, "ts_ms": 0})
    assert " art=haupt kd_nr=C-900001 mandant=1 " in table_line(composite)
    single = Decoded(raw=raw, kind="debezium", key={"kd_nr": "C-900001"}, system="helpdesk", table="kontakte",
                     value={"op": "c", "before": None, "after": {}, "source": {}, "ts_ms": 0})
    assert "0@3      C-900001 " in table_line(single)


def test_a_record_of_an_unknown_schema_says_why_in_the_text_output_too() -> None:
    from streams.inspect.decoding import decode_record
    from streams.inspect.output import record_document, table_line

    newer = b"\xc3\x01" + bytes.fromhex("0123456789abcdef") + b"\x02\x06abc"  # a newer writer's fingerprint
    raw = RawRecord(topic="isthmus.canonical.customers", partition=0, offset=9, timestamp_ms=0, key=b"C-1",
                    value=newer)
    record = masked(decode_record(raw, STORE), CATALOG)
    first, reason = table_line(record).split("\n")
    assert first.endswith(f"bytes {MASK}")
    assert reason == f"    not decoded: {record_document(record)['decode_error']}"
    assert "fingerprint 0123456789abcdef" in reason and "deploy the writer's schemas/" in reason
