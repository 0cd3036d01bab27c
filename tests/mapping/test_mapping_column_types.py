"""The SQL types Debezium's PostgreSQL and MariaDB connectors send have the kind of value they arrive as, so a
binding is checked at load: an INTERVAL (microseconds) into a text field is refused there, not dead-lettered with
every change. A type Isthmus does not know loads unchecked, and ``isthmus mappings validate`` warns of each column of
it a mapping reads, once, naming file, line and type."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.systems import reference_with, system
from support.till import PAYMENT_HEAD, till_tables

from streams.catalog.model import Column
from streams.cli.main import main
from streams.codecs.avro.schemas import SchemaSet
from streams.codecs.debezium.values import decode_value
from streams.mapping import Context, MappingLoadError, RecordMapping, load_mapping
from streams.mapping.engine import Engine
from streams.mapping.exceptions import MappingValueError
from streams.mapping.kinds import Kind, from_column

pytestmark = pytest.mark.unit

#: The till's payments, with a PostgreSQL INTERVAL (its terms) and a BOX (a type Isthmus does not know).
COLUMNS = {"id": "BIGINT", "beleg": "BIGINT", "konto": "BIGINT", "gezahlt_am": "TIMESTAMP WITH TIME ZONE",
           "betrag": "MONEY", "zahlungsziel": "INTERVAL", "bereich": "BOX"}
#: The first line after PAYMENT_HEAD's, where a test's extra fields go.
LINE = 14


def _load(schemas: SchemaSet, tmp_path: Path, fields: str) -> RecordMapping:
    path = tmp_path / "payment.yaml"
    path.write_text(PAYMENT_HEAD + fields, encoding="utf-8")
    columns = (Column(name=name, sql_type=sql_type, nullable=name in ("zahlungsziel", "bereich"))
               for name, sql_type in COLUMNS.items())
    return load_mapping(path, schemas=schemas, tables=till_tables(columns, "postgresql"),
                        systems=reference_with(system("kasse")))


def test_an_interval_into_a_text_field_is_refused_saying_it_arrives_as_microseconds(
        schemas: SchemaSet, tmp_path: Path) -> None:
    with pytest.raises(MappingLoadError) as caught:
        _load(schemas, tmp_path, "      amount: betrag\n      customer_number: zahlungsziel\n")
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (LINE + 1, "sources.kasse_zahlungen.fields.customer_number")
    assert problem.message.startswith("a nullable int value cannot fill a nullable string field; zahlungsziel is "
                                      "INTERVAL, which arrives as microseconds, Debezium's MicroDuration, a month "
                                      "counted as 30.4375 days ('1 mon 2 days' is 2802600000000)")
    assert "round(decimal(<column>) / 86400000000)" in problem.message


def test_an_interval_computed_into_days_loads(schemas: SchemaSet, tmp_path: Path) -> None:
    mapping = _load(schemas, tmp_path, '      amount: betrag\n      customer_number: {compute: '
                                       '"str(round(decimal(zahlungsziel) / 86400000000))"}\n')
    assert mapping.warnings == ()


@pytest.mark.parametrize(("sql_type", "args", "kind"), [
    ("INTERVAL", (), Kind("int", bits=64)),
    ("CITEXT", (), Kind("string")), ("INET", (), Kind("string")), ("CIDR", (), Kind("string")),
    ("MACADDR", (), Kind("string")), ("UUID", (), Kind("string")), ("XML", (), Kind("string")),
    ("JSON", (), Kind("string")), ("JSONB", (), Kind("string")), ("TSVECTOR", (), Kind("string")),
    ("HSTORE", (), Kind("string")), ("INT4RANGE", (), Kind("string")), ("TIME WITH TIME ZONE", (), Kind("time")),
    ("MONEY", (), Kind("decimal", scale=2, precision=19)),
    ("BIT", ("1",), Kind("bool")), ("BIT", ("8",), Kind("bytes")), ("BIT VARYING", ("8",), Kind("bytes")),
    ("POINT", (), Kind("record")), ("GEOMETRY", (), Kind("record")),
    # MariaDB
    ("YEAR", (), Kind("int")), ("SET", (), Kind("string")), ("LONGBLOB", (), Kind("bytes")),
    ("VARBINARY", ("16",), Kind("bytes")), ("MULTIPOLYGON", (), Kind("record")),
])
def test_the_types_debezium_sends_have_the_kind_they_arrive_as(sql_type: str, args: tuple[str, ...],
                                                               kind: Kind) -> None:
    assert from_column(Column(name="c", sql_type=sql_type, args=args), "postgresql") == kind


def test_a_column_of_an_unknown_type_loads_with_one_warning_naming_file_line_and_type(
        schemas: SchemaSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = _load(schemas, tmp_path, '      amount: betrag\n      customer_number: bereich\n'
                                       '      deleted: {compute: "bereich is None"}\n')
    (warning,) = mapping.warnings  # once per column, though two bindings read it
    assert (warning.file, warning.line, warning.field) == (
        tmp_path / "payment.yaml", LINE + 1, "sources.kasse_zahlungen.fields.customer_number")
    assert warning.message.startswith("'bereich' of kasse.zahlungen (")
    assert "is BOX, a type Isthmus does not know" in warning.message
    assert "they arrive as Debezium's representation of BOX" in warning.message
    assert "isthmus topics tail" in warning.fix


def test_validate_prints_the_warning_and_stays_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The ERP's shipments.carrier made a type no connector sends as text: the shipped mapping reads it."""
    root = Path(__file__).parents[2]
    for folder in ("systems", "connect-configs", "targets"):  # a system file names its connector and target beside it
        shutil.copytree(root / folder, tmp_path / folder)
    systems = tmp_path / "systems"
    columns = systems / "erp.columns.yaml"
    text = columns.read_text(encoding="utf-8")
    known = "      carrier: {type: VARCHAR, args: [40], nullable: false}\n"
    assert known in text
    columns.write_text(text.replace(known, "      carrier: {type: GEOMCOLLECTION, nullable: false}\n"),
                       encoding="utf-8")
    monkeypatch.setenv("ISTHMUS_SYSTEMS_DIR", str(systems))
    assert main(["mappings", "validate", "--dir", str(root / "mappings")]) == 0
    out = capsys.readouterr().out
    (line,) = [w for w in out.splitlines() if w.startswith("warning: ")]
    assert "shipment.yaml:24: sources.erp_shipments.fields.carrier: 'carrier' of erp.shipments (" in line
    assert "is GEOMCOLLECTION, a type Isthmus does not know" in line
    assert f"mapping files of {root / 'mappings'} are valid" in out


def test_a_tsvector_column_decodes_as_its_text() -> None:
    """Debezium 3.6 names a TSVECTOR's value io.debezium.data.Tsvector: a change of a table that has one decodes
    (it failed as an unknown logical type, whichever columns a mapping read)."""
    schema = {"type": "string", "optional": True, "name": "io.debezium.data.Tsvector", "field": "suche"}
    assert decode_value("'direct':6 'insert':8", schema, "suche") == "'direct':6 'insert':8"


def test_an_interval_sent_as_iso_8601_text_maps_exactly_through_str(schemas: SchemaSet, tmp_path: Path,
                                                                    context: Context) -> None:
    """Under the connector's ``interval.handling.mode: string`` Debezium sends an INTERVAL as ISO 8601 text
    (io.debezium.time.Interval, ``P<y>Y<m>M<d>DT<h>H<m>M<s>S``), months kept: it decodes as that text, and
    ``compute: "str(<column>)"`` (the columns file's INTERVAL is checked as a number) carries it unchanged."""
    schema = {"type": "string", "optional": True, "name": "io.debezium.time.Interval", "field": "zahlungsziel"}
    assert decode_value("P0Y1M2DT0H0M0S", schema, "zahlungsziel") == "P0Y1M2DT0H0M0S"
    mapping = _load(schemas, tmp_path, '      amount: betrag\n      customer_number: {compute: "str(zahlungsziel)"}\n')
    assert mapping.warnings == ()
    binding = mapping.sources[0].bindings["customer_number"]
    engine = Engine(mapping, dict(schemas.named))
    assert engine.value(binding, {"zahlungsziel": "P0Y1M2DT0H0M0S"}, context) == "P0Y1M2DT0H0M0S"
    assert engine.value(binding, {"zahlungsziel": "P1Y0M0DT0H0M-1.5S"}, context) == "P1Y0M0DT0H0M-1.5S"
    assert engine.value(binding, {"zahlungsziel": None}, context) is None
    # a plain binding into a number field loads (INTERVAL is a number in the columns file), and refuses the text
    path = tmp_path / "payment.yaml"
    path.write_text(PAYMENT_HEAD.replace("invoice_id: beleg", "invoice_id: zahlungsziel") + "      amount: betrag\n",
                    encoding="utf-8")
    columns = (Column(name=name, sql_type=sql_type, nullable=False) for name, sql_type in COLUMNS.items())
    plain = load_mapping(path, schemas=schemas, tables=till_tables(columns, "postgresql"),
                         systems=reference_with(system("kasse")))
    with pytest.raises(MappingValueError, match="invoice_id: expected a whole number, got 'P0Y1M2DT0H0M0S'"):
        Engine(plain, dict(schemas.named)).value(plain.sources[0].bindings["invoice_id"],
                                                 {"zahlungsziel": "P0Y1M2DT0H0M0S"}, context)
