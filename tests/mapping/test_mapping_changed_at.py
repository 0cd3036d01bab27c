"""A source's ``changed_at`` (when its rows last changed: the commit time of a snapshot read of them) is compiled at
load like a field binding into a UTC instant; what cannot give one is refused with file, line, field and fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import MappingLoadError, Problem, RecordMapping, load_mapping
from streams.mapping.loader import SOURCE_KEYS
from streams.mapping.spec import CHANGED_AT
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

#: A made-up shop (PostgreSQL): its customers' last change in several forms.
COLUMNS = {
    "nr": Column(name="nr", sql_type="TEXT", nullable=False),
    "name": Column(name="name", sql_type="TEXT", nullable=False),
    "modified": Column(name="modified", sql_type="TIMESTAMPTZ"),
    "modified_0": Column(name="modified_0", sql_type="TIMESTAMPTZ", args=("0",)),
    "geaendert": Column(name="geaendert", sql_type="TIMESTAMP WITHOUT TIME ZONE"),
    "note": Column(name="note", sql_type="TEXT"),
}
TABLES = {"shop": Catalog(system="shop", engine="postgresql", namespace="shop", tables={
    "kunde": Table(name="kunde", primary_key=("nr",), replica_identity="full", columns=COLUMNS)})}
SYSTEMS = Systems({"shop": system("shop", engine=Engine.POSTGRESQL, writable=True)}, directory=Path("systems"))

MAPPING = """\
target: isthmus.canonical.Customer
key: customer_number
owner: shop
policy: latest_commit_wins
sources:
  shop_kunden:
    system: shop
    table: kunde
    changed_at: {changed_at}
    fields:
      customer_number: nr
      name: name
"""
LINE = 9  # the line of `changed_at:`
WHERE = "sources.shop_kunden.changed_at"


@pytest.fixture
def loaded(schemas: SchemaSet, write_mapping: Callable[..., Path]) -> Callable[[str], RecordMapping]:
    def load(changed_at: str) -> RecordMapping:
        return load_mapping(write_mapping(MAPPING.replace("{changed_at}", changed_at)), schemas=schemas,
                            tables=TABLES, systems=SYSTEMS)

    return load


def _refused(loaded: Callable[[str], RecordMapping], changed_at: str) -> Problem:
    with pytest.raises(MappingLoadError) as caught:
        loaded(changed_at)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (LINE, WHERE), problem
    assert str(problem).startswith(f"{problem.file}:{LINE}: {WHERE}: ")
    return problem


def test_the_option_is_one_name_of_the_source_keys() -> None:
    assert CHANGED_AT == "changed_at" and CHANGED_AT in SOURCE_KEYS


@pytest.mark.parametrize("changed_at", ["modified", "{from: geaendert, transform: [local_to_utc]}",
                                        '{compute: "modified"}'])
def test_a_time_with_a_zone_or_a_local_time_through_local_to_utc_loads(
        loaded: Callable[[str], RecordMapping], changed_at: str) -> None:
    (source,) = loaded(changed_at).sources
    assert source.changed_at is not None and source.changed_at.line == LINE
    assert source.changed_at.reads == {"geaendert" if "geaendert" in changed_at else "modified"}
    assert "modified" not in source.columns_read and "geaendert" not in source.columns_read  # a streamed row needs none


def test_a_column_the_table_lacks_is_refused_naming_its_columns(loaded: Callable[[str], RecordMapping]) -> None:
    problem = _refused(loaded, "updated_at")
    assert "'updated_at' is not a column of shop.kunde" in problem.message
    assert "modified" in problem.fix and "isthmus mappings discover shop" in problem.fix


def test_a_zone_less_local_time_needs_local_to_utc(loaded: Callable[[str], RecordMapping]) -> None:
    problem = _refused(loaded, "geaendert")
    assert "zone-less local time" in problem.message and "local_to_utc" in problem.fix
    assert "time_zone" in problem.fix


def test_a_column_that_holds_no_time_is_refused(loaded: Callable[[str], RecordMapping]) -> None:
    problem = _refused(loaded, "note")
    assert "string value cannot fill a nullable timestamp field" in problem.message


@pytest.mark.parametrize("changed_at", ["{const: 2026-12-01}", "{fields: {a: modified}}"])
def test_a_value_not_read_from_the_row_is_refused(loaded: Callable[[str], RecordMapping], changed_at: str) -> None:
    problem = _refused(loaded, changed_at)
    assert "reads when the row last changed from the row" in problem.message
    assert "`changed_at: <column>`" in problem.fix and "local_to_utc" in problem.fix


def test_a_source_reading_a_canonical_record_has_none(
        schemas: SchemaSet, write_mapping: Callable[..., Path]) -> None:
    text = """\
target: isthmus.canonical.Account
key: account_code
sources:
  customer:
    record: isthmus.canonical.Customer
    changed_at: updated_at
    fields:
      account_code: customer_number
      name: name
"""
    with pytest.raises(MappingLoadError) as caught:
        load_mapping(write_mapping(text), schemas=schemas, tables=TABLES, systems=SYSTEMS)
    problem = next(p for p in caught.value.problems if p.field == "sources.customer.changed_at")
    assert problem.line == 6 and "never read by a snapshot" in problem.message
    assert "remove `changed_at`" in problem.fix


def test_a_column_coarser_than_the_systems_clock_is_warned_of(loaded: Callable[[str], RecordMapping]) -> None:
    """The shop's commit times keep microseconds, its TIMESTAMPTZ(0) whole seconds."""
    (warning,) = loaded("modified_0").warnings
    assert (warning.line, warning.field) == (LINE, WHERE)
    assert "'modified_0' of shop.kunde" in warning.message and "keeps whole seconds" in warning.message
    assert "shop's commit times microseconds" in warning.message
    assert "`commit_time_precision: seconds` in systems/shop.yaml" in warning.fix
    assert loaded("modified").warnings == ()
