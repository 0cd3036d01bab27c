"""One fingerprint, one meaning. A new user's trial changed a decimal of their own record from (10, 2) to (14, 4) in
place: the single-object fingerprint (of Avro's Parsing Canonical Form, which leaves out logical types) stayed the
same, and records written before (6353807.72) were read as 63538.0772 with no error; a history copy of the old form
only flipped which records read wrong. Such a pair is refused at load; the schemas the writers recorded are checked
the same way, and a reader meeting a fingerprint its files do not know reads the recorded schema.

Made up here: a ``Plot`` of a land registry, its ``lease_value`` a decimal."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore, WrittenSchema
from streams.codecs.exceptions import SchemaLoadError, UnknownFingerprint
from streams.kafka import written_schemas

pytestmark = pytest.mark.unit

PLOT = "land.canonical.Plot"


def _plot(lease: dict[str, Any], *extra: dict[str, Any], doc: str = "A plot of land.") -> dict[str, Any]:
    return {"type": "record", "name": "Plot", "namespace": "land.canonical", "doc": doc, "fields": [
        {"name": "plot_code", "type": "string"},
        {"name": "lease_value", "type": ["null", lease], "default": None},
        {"name": "surveyed_at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
         "default": None}, *extra]}


def _decimal(precision: int, scale: int) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


def _folder(tmp_path: Path, current: dict[str, Any], **history: dict[str, Any]) -> Path:
    folder = tmp_path / "schemas"
    (folder / "history").mkdir(parents=True, exist_ok=True)
    (folder / "plot.avsc").write_text(json.dumps(current), encoding="utf-8")
    for version, schema in history.items():
        (folder / "history" / f"plot.{version}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return folder


def _written(tmp_path: Path, schema: dict[str, Any], value: dict[str, Any]) -> bytes:
    """A record as a writer with only ``schema`` wrote it."""
    store = SchemaStore(load_schemas(_folder(tmp_path / "writer", schema)))
    return store.encode(PLOT, value)


def test_an_in_place_decimal_change_with_a_history_copy_is_refused_naming_both_files(tmp_path: Path) -> None:
    """The trial: site.avsc (14, 4) and history/site.v2.avsc (10, 2) under one fingerprint."""
    folder = _folder(tmp_path, _plot(_decimal(14, 4)), v1=_plot(_decimal(10, 2)))
    with pytest.raises(SchemaLoadError) as refused:
        SchemaStore(load_schemas(folder))
    text = str(refused.value)
    assert f"{folder / 'plot.avsc'} and {folder / 'history' / 'plot.v1.avsc'} have the same fingerprint" in text
    assert "Plot.lease_value is decimal(14, 4) in the first and decimal(10, 2) in the second" in text
    assert "put lease_value back to decimal(10, 2)" in text
    assert "land.canonical.Plot2 in plot2.avsc with lease_value decimal(14, 4)" in text


def test_micros_edited_to_millis_is_refused(tmp_path: Path) -> None:
    edited = _plot(_decimal(10, 2))
    edited["fields"][2]["type"][1]["logicalType"] = "timestamp-millis"
    with pytest.raises(SchemaLoadError, match=r"Plot\.surveyed_at is timestamp-millis in the first and "
                                              r"timestamp-micros in the second"):
        SchemaStore(load_schemas(_folder(tmp_path, edited, v1=_plot(_decimal(10, 2)))))


def test_two_history_copies_of_one_fingerprint_must_agree(tmp_path: Path) -> None:
    folder = _folder(tmp_path, _plot(_decimal(10, 2), {"name": "zone", "type": ["null", "string"], "default": None}),
                     v1=_plot(_decimal(10, 2)), v2=_plot(_decimal(14, 4)))
    with pytest.raises(SchemaLoadError, match="remove the copy made after an edit in place"):
        SchemaStore(load_schemas(folder))


def test_what_the_fingerprint_leaves_out_without_changing_a_value_is_allowed(tmp_path: Path) -> None:
    """A doc, a default: the bytes read the same, so a history copy may differ there."""
    store = SchemaStore(load_schemas(_folder(tmp_path, _plot(_decimal(10, 2), doc="Edited."),
                                             v1=_plot(_decimal(10, 2)))))
    data = store.encode(PLOT, {"plot_code": "P-1", "lease_value": Decimal("6353807.72"), "surveyed_at": None})
    assert store.decode(data).value["lease_value"] == Decimal("6353807.72")


def test_a_schema_written_before_under_the_fingerprint_with_another_meaning_is_refused(tmp_path: Path) -> None:
    """No history copy: the edit is caught by what the writers recorded (a worker does not start)."""
    before = SchemaStore(load_schemas(_folder(tmp_path / "before", _plot(_decimal(10, 2)))))
    recorded = _recorded(before, "2026-12-07T12:25:03Z")
    after = SchemaStore(load_schemas(_folder(tmp_path, _plot(_decimal(14, 4)))))
    with pytest.raises(SchemaLoadError) as refused:
        after.check_written([recorded])
    text = str(refused.value)
    assert "the schema recorded in isthmus.schemas (written before, 2026-12-07T12:25:03Z)" in text
    assert "lease_value is decimal(14, 4) in the first and decimal(10, 2) in the second" in text
    before.check_written([recorded])  # the same meaning: nothing to say, and nothing to record again


def _recorded(store: SchemaStore, when: str) -> WrittenSchema:
    """What a writer with ``store`` recorded for its Plot, as read back from the topic."""
    _, value = written_schemas.record_of(store.current(PLOT), writer="w1")
    parsed = written_schemas.parse(value)
    assert parsed is not None
    return WrittenSchema(name=parsed.name, fingerprint=parsed.fingerprint, schema=parsed.schema, written_at=when,
                         where=parsed.where)


def test_a_field_added_without_a_history_copy_reads_older_records_with_the_recorded_schema(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = _plot(_decimal(10, 2))
    data = _written(tmp_path, old, {"plot_code": "P-2", "lease_value": Decimal("6353807.72"), "surveyed_at": None})
    recorded = _recorded(SchemaStore(load_schemas(_folder(tmp_path / "old", old))), "2026-12-07T12:25:03Z")
    folder = _folder(tmp_path, _plot(_decimal(10, 2), {"name": "zone", "type": ["null", "string"], "default": None}))
    store = SchemaStore(load_schemas(folder))
    with pytest.raises(UnknownFingerprint):
        store.decode(data)  # no lookup: as before
    asked: list[bytes] = []

    def lookup(value: bytes) -> tuple[WrittenSchema, ...]:
        asked.append(value)
        return (recorded,) if value == recorded.fingerprint else ()

    store.lookup = lookup
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            assert store.decode(data).value == {"plot_code": "P-2", "lease_value": Decimal("6353807.72"),
                                                "surveyed_at": None, "zone": None}
    assert asked == [recorded.fingerprint]  # once: kept from then on
    (said,) = [r.getMessage() for r in caplog.records if "no file here has" in r.getMessage()]
    assert f"isthmus topics schemas --show {recorded.fingerprint.hex()} > {folder / 'history' / 'plot.v1.avsc'}" in said
    unknown = b"\x01" * 8
    with pytest.raises(UnknownFingerprint):
        store.by_fingerprint(unknown)
    with pytest.raises(UnknownFingerprint):
        store.by_fingerprint(unknown)
    assert asked.count(unknown) == 1  # not asked again at once: no topic read per record


def test_each_schema_written_with_is_to_be_recorded_once(tmp_path: Path) -> None:
    store = SchemaStore(load_schemas(_folder(tmp_path, _plot(_decimal(10, 2)))))
    assert store.unrecorded() == ()
    for code in ("P-3", "P-4"):
        store.encode(PLOT, {"plot_code": code, "lease_value": None, "surveyed_at": None})
    (pending,) = store.unrecorded()
    assert pending.fingerprint == store.current(PLOT).fingerprint
    key, value = written_schemas.record_of(pending, writer="w1")
    assert key.decode().startswith(pending.fingerprint.hex() + "/")
    assert json.loads(value)["schema"]["fields"][1]["type"][1] == _decimal(10, 2)  # the logical type kept
    store.recorded([pending.fingerprint])
    assert store.unrecorded() == ()
    again = SchemaStore(load_schemas(_folder(tmp_path, _plot(_decimal(10, 2)))))
    again.check_written([_recorded(store, "2026-12-07T12:25:03Z")])  # recorded already: not again
    again.encode(PLOT, {"plot_code": "P-5", "lease_value": None, "surveyed_at": None})
    assert again.unrecorded() == ()
