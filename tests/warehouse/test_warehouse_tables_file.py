"""warehouse/tables.yaml: the reference file's meaning, and the checks that refuse a wrong one with file, line,
field and fix (against schema.sql and the Avro records), every problem at once."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.warehouse import ddl
from streams.warehouse.exceptions import RowRejected, WarehouseTablesError
from streams.warehouse.rows import Change
from streams.warehouse.tables import Inheritance, Rules, TableSpec
from streams.warehouse.tables_file import load_tables
from streams.warehouse.writer import touched

RULES = Rules(client_code_prefix="CL-")
LINE = {"erp_order_id": 4, "line_no": 1, "sku": "SKU-1", "warehouse_code": "WH1", "quantity": Decimal("2.000"),
        "unit_price": Decimal("9.99")}
ORDER = {"erp_order_id": 4, "erp_order_no": "SO-4", "erp_account_id": 3, "order_number": None, "status": "open",
         "currency": "EUR", "total_amount": Decimal("19.98"),
         "ordered_at": dt.datetime(2024, 3, 10, 23, 30, tzinfo=dt.UTC)}


@pytest.fixture(scope="module")
def reference() -> dict[str, TableSpec]:
    return {spec.target: spec for spec in load_tables().specs}


def _problems(tmp_path: Path, text: str) -> list[str]:
    """The problems of ``text`` as a tables file next to a copy of the reference schema.sql."""
    shutil.copy(ddl.SQL_DIR / ddl.SCHEMA_FILE, tmp_path / ddl.SCHEMA_FILE)
    path = tmp_path / "tables.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(WarehouseTablesError) as caught:
        load_tables(path)
    return [str(p) for p in caught.value.problems]


def test_a_non_positive_quantity_refuses_the_line_before_anything_else(reference: dict[str, TableSpec]) -> None:
    lines = reference["fact_order_line"]
    assert lines.build(LINE, RULES)["quantity"] == Decimal("2.000")
    with pytest.raises(RowRejected, match=r"^quantity 0\.000 is not positive$"):
        lines.build({**LINE, "quantity": Decimal("0.000"), "sku": "  "}, RULES)
    with pytest.raises(RowRejected, match="sku is empty"):
        lines.build({**LINE, "sku": "  "}, RULES)


def test_computed_columns_read_the_settings_and_the_columns_before_them(reference: dict[str, TableSpec]) -> None:
    client = reference["dim_client"].build({"crm_customer_id": 5, "customer_number": "C-5", "name": "Acme"},
                                           Rules(client_code_prefix="DWH/"))
    assert client["client_code"] == "DWH/5"
    order = reference["fact_sales_order"].build(ORDER, RULES)
    assert (order["order_id"], order["account_id"], order["date_key"]) == (4, 3, 20240310)


def test_unread_fields_and_the_delete_flag_decide_what_goes_to_attributes(reference: dict[str, TableSpec]) -> None:
    """Every field no column reads goes to ``attributes``; the default delete flag counts as read, a table's
    own ``deleted`` expression reads its fields without keeping them out of ``attributes``."""
    assert "deleted" in reference["fact_invoice"].consumed and "order_number" not in reference["fact_invoice"].consumed
    assert "active" not in reference["dim_client"].consumed and reference["dim_client"].deleted({"active": False})
    assert not reference["fact_crm_order"].deleted({"status": "cancelled"})


def test_an_order_and_its_lines_touch_the_same_inheritance(reference: dict[str, TableSpec]) -> None:
    (link,) = reference["fact_order_line"].inheritances
    assert link == Inheritance(child="fact_order_line", parent="fact_sales_order", by="order_id",
                               columns=("transaction_time", "date_key"))
    assert reference["fact_sales_order"].inheritances == (link,)
    lineage: dict[str, Any] = {}
    changes = [Change(spec=reference["fact_order_line"], values={**reference["fact_order_line"].build(LINE, RULES)},
                      deleted=False, lineage=lineage),
               Change(spec=reference["fact_sales_order"], values={**reference["fact_sales_order"].build(
                   {**ORDER, "erp_order_id": 2}, RULES)}, deleted=False, lineage=lineage),
               Change(spec=reference["fact_invoice"], values={"order_id": 9}, deleted=False, lineage=lineage)]
    assert touched(changes) == {link: [2, 4]}


def test_unknown_table_column_field_and_rule_are_refused_at_once_with_line_and_fix(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """\
        fact_payment:
          topic: payments
          record: isthmus.canonical.Payment
          key: [payment_id]
          columns:
            payment_id: {clean: integer}
            payment_ref: {from: payment_id, clean: text}
            amount: {from: amount_paid, clean: number}
            account_id: {from: erp_account_id, clean: money}
        fact_refund:
          topic: refunds
          record: isthmus.canonical.Payment
          key: [payment_id]
          columns:
            payment_id: {clean: integer}
        """)
    path = tmp_path / "tables.yaml"
    assert problems == [
        f"{path}:7: fact_payment.columns.payment_ref: fact_payment has no column 'payment_ref' in schema.sql; "
        "fix: use one of account_id, amount, date_key, invoice_id, payment_id, transaction_time, or add it to "
        "schema.sql",
        f"{path}:8: fact_payment.columns.amount.from: the record has no field 'amount_paid'; fix: use `from: "
        "<field>` with one of amount, customer_number, deleted, erp_account_id, invoice_id, paid_at, payment_id",
        f"{path}:9: fact_payment.columns.account_id.clean: no cleaning rule 'money'; fix: use `clean: <rule>` "
        "with one of boolean, date, email, instant, integer, number, phone, text (streams/warehouse/cleaning.py), "
        "or `compute: \"<expression>\"`",
        f"{path}:11: fact_refund: no table 'fact_refund' in schema.sql; fix: use one of dim_account, dim_client, "
        "dim_date, dim_product, fact_crm_order, fact_invoice, fact_order_line, fact_payment, fact_sales_order, "
        f"fact_stock, load_offsets, load_rejects, or create it in {tmp_path / 'schema.sql'}",
    ]


def test_expressions_checks_keys_and_required_are_checked(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """\
        fact_crm_order:
          topic: orders
          record: isthmus.canonical.SalesOrder
          key: [crm_order_id, order_id]
          when: "ordered_by is not None"
          columns:
            crm_order_id: {clean: integer, required: maybe}
            date_key: {compute: "yyyymmdd(transaction_time)"}
            status: {clean: text, check: "status != ''", message: "status {state} is blank"}
            deleted: {clean: boolean}
        fact_order_line:
          topic: erp-order-lines
          record: ErpSalesOrderLine
          key: [order_id]
          inherits: {from: fact_crm_order, by: order_id, columns: [transaction_time]}
          columns:
            order_id: {from: erp_order_id, clean: integer}
            sku: {clean: email, required: true}
        """)
    fields = [p.split(": ")[1] for p in problems]
    assert fields == [
        "fact_crm_order.when", "fact_crm_order.deleted", "fact_crm_order.columns.crm_order_id.required",
        "fact_crm_order.columns.date_key.compute", "fact_crm_order.columns.status.message",
        "fact_crm_order.columns.deleted", "fact_crm_order.columns.deleted.from", "fact_crm_order.key",
        "fact_order_line.columns.sku.required",
    ], problems
    assert "reads ordered_by, not a field of the record" in problems[0]
    assert "isthmus.canonical.SalesOrder has no 'deleted' field" in problems[1]
    assert "reads transaction_time, not a setting or a column before this one" in problems[3]
    assert "cannot fill state" in problems[4]
    assert "the loader fills this column itself" in problems[5]
    assert "order_id is not among the columns" in problems[7]
    assert "the email rule has no `required`" in problems[8]


def test_an_inheritance_needs_a_shared_column_and_columns_the_child_leaves_to_it(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """\
        fact_sales_order:
          topic: erp-orders
          record: isthmus.canonical.ErpSalesOrder
          key: [order_id]
          columns:
            order_id: {from: erp_order_id, clean: integer}
            transaction_time: {from: ordered_at, clean: instant}
        fact_order_line:
          topic: erp-order-lines
          record: isthmus.canonical.ErpSalesOrderLine
          key: [order_id]
          inherits: {from: fact_sales_order, by: order_id, columns: [transaction_time, order_no]}
          columns:
            order_id: {from: erp_order_id, clean: integer}
        """)
    assert len(problems) == 1 and ":12: fact_order_line.inherits.columns: order_no:" in problems[0]


def test_invalid_yaml_and_duplicate_tables_name_their_line(tmp_path: Path) -> None:
    assert _problems(tmp_path, "dim_product:\n  topic: [products\n")[0].startswith(
        f"{tmp_path / 'tables.yaml'}:3: (yaml): not valid YAML")
    duplicate = _problems(tmp_path, "dim_product: {}\nfact_stock: {}\ndim_product: {}\n")
    assert duplicate == [f"{tmp_path / 'tables.yaml'}:3: dim_product: key 'dim_product' appears twice (first on "
                         "line 1); fix: keep one of them"]
