"""A column no change event carries is refused where a mapping reads it, with the fix: a PostgreSQL generated column
(pgoutput never sends one; MariaDB's binlog does), and a column the connector's ``column.exclude.list`` names or
its ``column.include.list`` does not (matched as Debezium does: ``schema.table.column``, whole, ignoring case).
And a MariaDB/MySQL SET's value is a comma-joined combination of its members, not one of them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest
from support.systems import reference_with, system
from support.till import FIRST_ADDED_LINE, PAYMENT_HEAD, till_tables

from streams.capture.filters import CaptureFilter
from streams.catalog.model import Catalog, Column
from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import MappingLoadError, Problem, RecordMapping, load_mapping
from streams.mapping.loader import default_tables
from streams.systems import Engine

COLUMNS = (Column(name="id", sql_type="BIGINT", nullable=False),
           Column(name="beleg", sql_type="BIGINT", nullable=False),
           Column(name="konto", sql_type="BIGINT", nullable=False),
           Column(name="gezahlt_am", sql_type="TIMESTAMP WITH TIME ZONE", nullable=False),
           Column(name="betrag", sql_type="NUMERIC", args=("12", "2"), nullable=False),
           Column(name="brutto", sql_type="NUMERIC", args=("12", "2"), nullable=False, generated="stored"))


def load(schemas: SchemaSet, tmp_path: Path, text: str, *, engine: Engine = Engine.POSTGRESQL,
         lists: dict[str, str] | None = None) -> RecordMapping:
    """The Payment mapping ``text`` from the till ``kasse`` on ``engine``, its connector with the column ``lists``."""
    path = tmp_path / "payment.yaml"
    path.write_text(text, encoding="utf-8")
    kasse = dataclasses.replace(system("kasse", engine=engine),
                                capture=CaptureFilter.of({"table.include.list": "kasse.zahlungen", **(lists or {})},
                                                         engine.value))
    return load_mapping(path, schemas=schemas, tables=till_tables(COLUMNS, engine.value),
                        systems=reference_with(kasse))


def refused(schemas: SchemaSet, tmp_path: Path, text: str, *, lists: dict[str, str] | None = None) -> Problem:
    with pytest.raises(MappingLoadError) as caught:
        load(schemas, tmp_path, text, lists=lists)
    (problem,) = caught.value.problems
    return problem


def test_a_postgresql_generated_column_is_refused_where_it_is_read(schemas: SchemaSet, tmp_path: Path) -> None:
    problem = refused(schemas, tmp_path, PAYMENT_HEAD + "      amount: brutto\n")
    assert (problem.line, problem.field) == (FIRST_ADDED_LINE, "sources.kasse_zahlungen.fields.amount")
    assert problem.message.startswith("reads 'brutto' of kasse.zahlungen (kasse.columns.yaml), which is a generated "
                                      "column (GENERATED ALWAYS AS (...) STORED): PostgreSQL's logical decoding")
    assert "compute the value in the mapping from the columns it is generated from" in problem.fix
    assert "put kasse.zahlungen.brutto in column.exclude.list of connect-configs/connectors/kasse-source.yaml" in (
        problem.fix)
    # a condition reads it too; computing it from its inputs loads
    when = refused(schemas, tmp_path, PAYMENT_HEAD.replace("    fields:", "    when: \"brutto > 0\"\n    fields:")
                   + "      amount: betrag\n")
    assert (when.line, when.field) == (9, "sources.kasse_zahlungen.when")
    assert load(schemas, tmp_path, PAYMENT_HEAD + "      amount: {compute: \"betrag * 1\"}\n").sources


def test_a_generated_column_excluded_already_needs_only_computing(schemas: SchemaSet, tmp_path: Path) -> None:
    problem = refused(schemas, tmp_path, PAYMENT_HEAD + "      amount: brutto\n",
                      lists={"column.exclude.list": "kasse.zahlungen.brutto"})
    assert "generated column" in problem.message and "column.exclude.list" not in problem.fix


def test_a_mariadb_generated_column_is_read_as_any_other(schemas: SchemaSet, tmp_path: Path) -> None:
    """MariaDB logs generated columns, VIRTUAL and STORED, in its row-based binlog's full row images."""
    mapping = load(schemas, tmp_path, PAYMENT_HEAD.replace("paid_at: gezahlt_am", "paid_at: {from: gezahlt_am}")
                   + "      amount: brutto\n", engine=Engine.MARIADB)
    assert mapping.sources[0].bindings["amount"].column == "brutto"


def test_a_column_the_exclude_list_names_is_refused(schemas: SchemaSet, tmp_path: Path) -> None:
    problem = refused(schemas, tmp_path, PAYMENT_HEAD + "      amount: betrag\n",
                      lists={"column.exclude.list": "kasse.zahlungen.notiz,KASSE\\.Zahlungen\\.BETRAG"})
    assert (problem.line, problem.field) == (FIRST_ADDED_LINE, "sources.kasse_zahlungen.fields.amount")
    assert problem.message == (
        "reads 'betrag' of kasse.zahlungen (kasse.columns.yaml), which connector kasse-source leaves out of every "
        "change event (its column.exclude.list in connect-configs/connectors/kasse-source.yaml names it)")
    assert problem.fix.startswith("read a column the connector sends, or take it out of column.exclude.list in "
                                  "connect-configs/connectors/kasse-source.yaml and deploy it")


def test_a_column_the_include_list_does_not_name_is_refused(schemas: SchemaSet, tmp_path: Path) -> None:
    listed = "kasse.zahlungen.(id|beleg|konto|gezahlt_am)"
    problem = refused(schemas, tmp_path, PAYMENT_HEAD + "      amount: betrag\n",
                      lists={"column.include.list": listed})
    assert "its column.include.list in connect-configs/connectors/kasse-source.yaml does not name it" in (
        problem.message)
    assert "add kasse.zahlungen.betrag to column.include.list" in problem.fix
    # patterns match the whole qualified name, ignoring case, as Debezium's
    wider = load(schemas, tmp_path, PAYMENT_HEAD + "      amount: betrag\n",
                 lists={"column.include.list": "KASSE.ZAHLUNGEN.(id|beleg|konto|gezahlt_am|betrag)"})
    assert wider.sources[0].bindings["amount"].column == "betrag"


INVOICE = """\
target: isthmus.canonical.Invoice
key: invoice_id
owner: erp
policy: owner_wins
sources:
  erp_invoices:
    system: erp
    table: invoices
    fields:
      invoice_id: invoice_id
      invoice_no: invoice_no
      erp_order_id: order_id
      erp_account_id: account_id
      amount: amount
      due_date: due_date
      issued_at: {from: issued_at, transform: [local_to_utc]}
"""


def invoices_with(tmp_path: Path, schemas: SchemaSet, status: str, *, column: Column, when: str = "") -> RecordMapping:
    """The Invoice mapping reading the ERP's invoices whose status is ``column``, with the condition ``when``."""
    reference = default_tables()
    erp = reference["erp"]
    invoices = erp.tables["invoices"]
    changed = dataclasses.replace(invoices, columns=MappingProxyType({**invoices.columns, "status": column}))
    tables = {**reference, "erp": Catalog(system="erp", engine="mariadb", namespace="erp", path=erp.path,
                                          tables=MappingProxyType({**erp.tables, "invoices": changed}))}
    path = tmp_path / "invoice.yaml"
    text = INVOICE.replace("    fields:", f"    when: \"{when}\"\n    fields:") if when else INVOICE
    path.write_text(text + status, encoding="utf-8")
    return load_mapping(path, schemas=schemas, tables=tables, systems=reference_with())


def invoices_with_a_set(tmp_path: Path, schemas: SchemaSet, status: str) -> RecordMapping:
    """The Invoice mapping reading the ERP's invoices whose status is a SET('open','paid') column."""
    return invoices_with(tmp_path, schemas, status,
                         column=Column(name="status", sql_type="SET", nullable=False, allowed=("open", "paid")))


def test_a_set_column_does_not_fill_an_enum_of_its_members(schemas: SchemaSet, tmp_path: Path) -> None:
    with pytest.raises(MappingLoadError) as caught:
        invoices_with_a_set(tmp_path, schemas, "      status: status\n")
    (problem,) = caught.value.problems
    assert problem.message == ("a SET value is any combination of open, paid joined by commas ('' when none), e.g. "
                               "'', 'open,paid', which isthmus.canonical.InvoiceStatus does not allow")
    with pytest.raises(MappingLoadError, match=r"value map status does not cover every value: a SET value is any "
                                               r"combination of open, paid joined by commas \('' when none\), e\.g\. "
                                               r"'', 'open,paid'.*fix: add a `default:`"):
        invoices_with_a_set(tmp_path, schemas, "      status: {from: status, transform: [{map: status}]}\n"
                            "value_maps:\n  status: {open: open, paid: paid}\n")
    mapping = invoices_with_a_set(tmp_path, schemas, "      status: {from: status, transform: [{map: status}]}\n"
                                  "value_maps:\n  status: {values: {open: open, paid: paid}, default: unknown}\n")
    assert mapping.sources[0].bindings["status"].column == "status"


ENUM = Column(name="status", sql_type="ENUM", nullable=True, allowed=("open", "paid", "cancelled"))
NOT_NULL_ENUM = dataclasses.replace(ENUM, nullable=False)


@pytest.mark.parametrize("when", ["", "status != 'cancelled'", "status == 'open' or amount > 0",
                                  "not status == 'cancelled'"])
def test_an_enum_with_a_value_the_field_lacks_is_refused_unless_the_condition_leaves_it_out(
        schemas: SchemaSet, tmp_path: Path, when: str) -> None:
    with pytest.raises(MappingLoadError) as caught:
        invoices_with(tmp_path, schemas, "      status: status\n", column=NOT_NULL_ENUM, when=when)
    (problem,) = caught.value.problems
    assert problem.message == ("the source may hold cancelled, which isthmus.canonical.InvoiceStatus does not "
                               "allow"), when


@pytest.mark.parametrize("when", ["status in ('open', 'paid')", "status == 'paid'",
                                  "amount > 0 and status in ['open', 'paid']",
                                  "status is not None and status in ('open', 'paid') and status"])
def test_a_condition_that_keeps_only_the_field_s_values_lets_the_enum_fill_it(schemas: SchemaSet, tmp_path: Path,
                                                                              when: str) -> None:
    """The nullable ENUM too: the rows the condition lets through are not null."""
    mapping = invoices_with(tmp_path, schemas, "      status: status\n", column=ENUM, when=when)
    (source,) = mapping.sources
    assert source.bindings["status"].column == "status"
    assert source.kinds["status"].symbols == frozenset({"open", "paid", "cancelled"})  # the row's own, at run time
