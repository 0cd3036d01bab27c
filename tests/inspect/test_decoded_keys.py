"""Keys of Debezium records are shown and matched decoded by their Connect schema, as the flows decode them: a
DECIMAL key column (a ``BIGINT UNSIGNED`` under ``bigint.unsigned.handling.mode: precise``) by its number, not
Connect's base64, in ``tail``, ``trace`` and ``dlq``, and ``--key`` finds it in each of its forms."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from streams.cli.topics import describe
from streams.codecs.avro.single_object import SchemaStore
from streams.inspect.decoding import RawRecord, decode_record, letter_entity, masked, summary
from streams.inspect.filters import build
from streams.inspect.masking import PiiCatalog
from streams.inspect.output import record_document, table_line
from streams.sinks.dlq import DeadLetterEntry
from streams.sinks.records import Original, dead_letter_value

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
CATALOG = PiiCatalog.load(STORE.schemas)
FIXTURES = Path(__file__).resolve().parents[1] / "codecs" / "fixtures"
TOPIC = "billing.isthmus_billing.kunden_konto"


def _decimal(field: str, scale: int = 0, precision: int = 20) -> dict[str, Any]:
    """A Decimal field as JsonConverter writes its schema."""
    return {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
            "parameters": {"scale": str(scale), "connect.decimal.precision": str(precision)}, "field": field}


def _key(payload: dict[str, Any], *fields: dict[str, Any]) -> bytes:
    """A key as JsonConverter writes it, of ``fields`` (default: ``konto_nr``, a Decimal of scale 0)."""
    schema = {"type": "struct", "fields": list(fields) or [_decimal("konto_nr")], "optional": False,
              "name": f"{TOPIC}.Key"}
    return json.dumps({"schema": schema, "payload": payload}, separators=(",", ":")).encode()


def _value(konto_nr: str) -> bytes:
    """The captured MariaDB update of erp.accounts, its key column a ``BIGINT UNSIGNED`` ``konto_nr`` sent
    precise (a Decimal of scale 0), of table ``isthmus_billing.kunden_konto``."""
    captured = json.loads((FIXTURES / "erp_accounts_u_1.json").read_text(encoding="utf-8"))["value"]
    for image in captured["schema"]["fields"]:
        if image["field"] in ("before", "after"):
            image["fields"] = [_decimal("konto_nr") if f["field"] == "account_id" else f for f in image["fields"]]
    payload = captured["payload"]
    for image in ("before", "after"):
        row = payload[image]
        del row["account_id"]
        row["konto_nr"] = konto_nr
    payload["source"].update(name="billing", db="isthmus_billing", table="kunden_konto")
    return json.dumps(captured, separators=(",", ":")).encode()


def _record(key: bytes, value: bytes | None) -> RawRecord:
    return RawRecord(topic=TOPIC, partition=0, offset=12, timestamp_ms=1_795_626_341_312, key=key, value=value)


KEY = _key({"konto_nr": "AYah"})  # 100001, as Debezium wrote it


def test_a_decimal_key_is_shown_as_its_number_by_tail_and_trace() -> None:
    record = decode_record(_record(KEY, _value("AYah")), STORE)
    assert record.kind == "debezium" and record.key == {"konto_nr": "100001"}
    assert record.value["after"]["konto_nr"] == "100001", "the key as the row's own column shows it"
    assert summary(record).startswith("u billing.kunden_konto konto_nr=100001 changed: blocked,credit_limit")
    line = table_line(masked(record, CATALOG))  # tail's line, and trace's
    assert " 100001 " in line and "AYah" not in line
    assert record_document(record)["key"] == {"konto_nr": "100001"}  # --json
    tombstone = decode_record(_record(KEY, None), STORE)
    assert tombstone.key == {"konto_nr": "100001"} and summary(tombstone) == "tombstone 100001"


@pytest.mark.parametrize("given", ["100001", "konto_nr=100001", '{"konto_nr": 100001}', '{"konto_nr": "100001"}'])
def test_key_finds_a_decimal_key_in_each_form_it_takes(given: str) -> None:
    record = masked(decode_record(_record(KEY, _value("AYah")), STORE), CATALOG)
    assert build(keys=[given])(record)
    assert not build(keys=[given.replace("100001", "100150")])(record)


def test_an_unsigned_bigint_above_the_signed_range_is_shown_and_found_whole() -> None:
    record = decode_record(_record(_key({"konto_nr": "AP////////2Y"}), None), STORE)
    assert record.key == {"konto_nr": "18446744073709551000"}
    assert build(keys=["18446744073709551000"])(record)
    assert build(keys=['{"konto_nr": 18446744073709551000}'])(record)
    unfit = decode_record(_record(_key({"konto_nr": "not base64!"}), None), STORE)
    assert unfit.key == {"konto_nr": "not base64!"}, "a key its schema does not decode is shown as written"


def test_a_composite_key_of_a_scaled_decimal_and_a_date_prints_and_matches_decoded() -> None:
    day = {"type": "int32", "optional": False, "name": "io.debezium.time.Date", "version": 1, "field": "stichtag"}
    raw = _record(_key({"betrag": base64.b64encode((1250).to_bytes(2, "big")).decode(), "stichtag": 19000},
                       _decimal("betrag", scale=2, precision=10), day), None)
    record = decode_record(raw, STORE)
    assert record.key == {"betrag": "12.50", "stichtag": "2022-01-08"}
    assert "betrag=12.50 stichtag=2022-01-08" in table_line(record)
    assert build(keys=["stichtag=2022-01-08 betrag=12.50"])(record)
    assert build(keys=['{"betrag": 12.50, "stichtag": "2022-01-08"}'])(record), "12.50 as written, not 12.5"


def test_a_dead_letter_of_a_decimal_keyed_row_names_its_number() -> None:
    letter = dead_letter_value(Original(topic=TOPIC, partition=0, offset=12, timestamp_ms=1, key=KEY,
                                        value=_value("AYah")), reason="refused", error_type="MappingValueError",
                               stage="flow.isthmus-customers", attempts=1, worker="w")
    letter["headers"] = []
    entry = DeadLetterEntry(partition=0, offset=3, timestamp_ms=1, letter=letter)
    assert letter_entity(entry, STORE, CATALOG) == "konto_nr=100001"  # dlq list's entity, and the dashboard's
    assert describe(entry, STORE, show_pii=False, catalog=CATALOG)["dead_letter"]["key"] == {"konto_nr": "100001"}

