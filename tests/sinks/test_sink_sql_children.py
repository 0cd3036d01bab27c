"""A SQL route's ``children``: a document's lines written as rows of a child table in the transaction of its header
row (the trial's web shop order into a fulfilment database: auftrag and auftrag_position), checked at load, at
start against the tables, and planned as the statements that make the child rows the list."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from streams.sinks.adapters.sql import decimal_scales, places, prepare, table_facts
from streams.sinks.adapters.sql_children import MARIADB, POSTGRESQL, ChildRows, child_writes, existing_statement
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

CHILDREN = """\
    children:
      - table: auftrag_position
        from: lines
        parent_key: {auftrag_id: auftrag_id}
        key: [auftrag_id, pos_nr]
        columns: {pos_nr: line_no, sku: sku, menge: quantity, einzelpreis: unit_price}
"""


def target(tmp_path: Path, children: str = CHILDREN, *, action: str = "upsert", limits: str = "") -> Path:
    path = tmp_path / "fulfil.yaml"
    path.write_text(textwrap.dedent(f"""\
        system: erp
        adapter: sql
        sql: {{database: fulfil}}
        {limits}
        routes:
          - payload_type: SalesOrder
            operation: create
            action: {action}
            table: auftrag
            key: [shop_bestellung]
            columns: {{shop_bestellung: order_number, waehrung: currency}}
            ids: {{fulfil_auftrag_id: auftrag_id}}
        """) + textwrap.indent(textwrap.dedent(children), "    "), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> TargetConfig:
    return load_target(target(tmp_path), writable=["erp"])


def line(no: int, qty: str = "1.00", sku: str | None = None) -> dict[str, Any]:
    return {"line_no": no, "sku": sku or f"SKU-{no}", "quantity": qty, "unit_price": "9.9900",
            "warehouse_code": None}


def order(lines: Any) -> SinkCommand:
    return SinkCommand(command_id="c", idempotency_key="k", target="erp", operation="create",
                       entity_type="isthmus.canonical.SalesOrder", entity_key="B-1",
                       payload_type="isthmus.canonical.SalesOrder",
                       payload={"order_number": "B-1", "currency": "EUR", "lines": lines})


def refused(tmp_path: Path, children: str, **kwargs: Any) -> str:
    with pytest.raises(TargetConfigError) as caught:
        load_target(target(tmp_path, children, **kwargs), writable=["erp"])
    return str(caught.value)


def test_a_route_with_children_loads_and_its_plan_names_the_child_table(config: TargetConfig) -> None:
    route = config.sql_routes()[0]
    child = route.children[0]
    assert (child.table, child.source, dict(child.parent_key), child.key, child.mode) == (
        "auftrag_position", "lines", {"auftrag_id": "auftrag_id"}, ("auftrag_id", "pos_nr"), "replace")
    assert child.written() == ("auftrag_id", "pos_nr", "sku", "menge", "einzelpreis")
    assert route.plan() == "upsert auftrag on (shop_bestellung), replace auftrag_position on (auftrag_id, pos_nr) " \
                           "from lines"


@pytest.mark.parametrize(("children", "expected"), [
    (CHILDREN.replace("from: lines", "from: currency"), "children[0].from: currency is not a list of records"),
    (CHILDREN.replace("from: lines", "from: positions"), "children[0].from: the payload has no field 'positions'"),
    (CHILDREN.replace("quantity", "qty"), "children[0].columns.menge: the payload has no field 'qty'; its fields: "
                                          "line_no, sku, quantity"),
    (CHILDREN.replace("key: [auftrag_id, pos_nr]", "key: [pos_nr]"), "leaves out the parent's key auftrag_id"),
    (CHILDREN.replace("key: [auftrag_id, pos_nr]", "key: [auftrag_id, pos]"),
     "key column 'pos' is neither in columns nor in parent_key"),
    (CHILDREN.replace("parent_key: {auftrag_id: auftrag_id}", "parent_key: auftrag_id"),
     "children[0].parent_key: parent_key must map child columns to parent columns, got text"),
    (CHILDREN + "        mode: append\n", "children[0].mode: 'append' is not a children mode"),
    (CHILDREN.replace("{pos_nr: line_no,", "{auftrag_id: line_no, pos_nr: line_no,"),
     "children[0].columns.auftrag_id: auftrag_id is the parent's key (parent_key)"),
    ("children: {table: x}\n", "children must be a non-empty list, got a mapping"),
])
def test_a_wrong_child_table_is_refused_at_load_naming_file_line_field_and_fix(
        tmp_path: Path, children: str, expected: str) -> None:
    error = refused(tmp_path, children)
    assert expected in error and "fulfil.yaml:" in error and "fix:" in error


def test_a_delete_route_takes_no_children(tmp_path: Path) -> None:
    error = refused(tmp_path, CHILDREN, action="delete")
    assert "a delete route removes its row and writes no children" in error and "ON DELETE CASCADE" in error


def test_a_command_with_lines_is_prepared_as_the_header_row_and_its_child_rows(config: TargetConfig) -> None:
    prepared = prepare(config, order([line(1), line(2, "3.5")]))
    assert not isinstance(prepared, Failed)
    assert prepared.row == {"shop_bestellung": "B-1", "waehrung": "EUR"}
    (child,) = prepared.children
    assert [r["pos_nr"] for r in child.rows] == [1, 2] and child.rows[1]["menge"] == "3.5"


@pytest.mark.parametrize(("lines", "error_type", "expected"), [
    (None, "NoLines", "the payload's lines is nothing, not a list"),
    ([line(1), line(1)], "DuplicateLineKey", "lines[0] and lines[1] have the same key in auftrag_position (1)"),
    ([{**line(1), "line_no": None}], "MissingKey", "the line in lines[0] gives no value for key column pos_nr"),
    ([line(1), line(2, "1.255")], "DecimalTooWide",
     "auftrag_position.menge holds 2 decimal places and the payload's value for it in lines[1] is 1.255"),
])
def test_lines_the_table_cannot_take_are_refused_before_anything_is_written(
        config: TargetConfig, lines: Any, error_type: str, expected: str) -> None:
    failed = prepare(config, order(lines), scales={"auftrag_position": {"menge": 2, "einzelpreis": 4}})
    assert isinstance(failed, Failed) and failed.kind == "permanent"
    assert failed.error_type == error_type and expected in failed.reason, failed.reason


def test_decimal_places_are_counted_without_trailing_zeros() -> None:
    assert [places(v) for v in ("1.500", "1.255", 3, "100", 2.5, "x", None, True)] == [1, 3, 0, 0, 1, 0, 0, 0]
    rows = [{"name": "menge", "type": "decimal", "scale": 2}, {"name": "amount", "type": "numeric", "scale": None},
            {"name": "sku", "type": "varchar", "scale": None}]
    assert decimal_scales(rows) == {"menge": 2}


def _planned(config: TargetConfig, lines: list[dict[str, Any]]) -> ChildRows:
    prepared = prepare(config, order(lines))
    assert not isinstance(prepared, Failed)
    return prepared.children[0]


def test_a_create_upserts_every_line_under_the_parent_id_read_back(config: TargetConfig) -> None:
    child = _planned(config, [line(1), line(2)])
    assert child.parent_values({"auftrag_id": None}) == Failed(
        kind="permanent", error_type="NoParentKey",
        reason="the row written has no value in auftrag_id, which parent_key gives auftrag_position.auftrag_id: "
               "nothing was written; name a column the route's table always fills (its key, or a generated id)")
    values = child.parent_values({"auftrag_id": 7, "shop_bestellung": "B-1"})
    assert values == {"auftrag_id": 7}
    assert existing_statement(child.spec, MARIADB) == \
        "SELECT `auftrag_id`, `pos_nr` FROM `auftrag_position` WHERE `auftrag_id` = %s"
    ((statement, params),) = child_writes(child, values, [], MARIADB, None)
    assert statement == ("INSERT INTO `auftrag_position` (`auftrag_id`, `pos_nr`, `sku`, `menge`, `einzelpreis`) "
                         "VALUES (%s, %s, %s, %s, %s), (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
                         "`sku` = VALUES(`sku`), `menge` = VALUES(`menge`), `einzelpreis` = VALUES(`einzelpreis`)")
    assert params == [7, 1, "SKU-1", "1.00", "9.9900", 7, 2, "SKU-2", "1.00", "9.9900"]


def test_an_edit_upserts_the_lines_and_deletes_the_rows_no_longer_listed(config: TargetConfig) -> None:
    child = _planned(config, [line(1, "2.00"), line(3)])
    existing = [{"auftrag_id": 7, "pos_nr": 1}, {"auftrag_id": 7, "pos_nr": 2}]
    upsert, delete = child_writes(child, {"auftrag_id": 7}, existing, POSTGRESQL, None)
    assert upsert[0].endswith('ON CONFLICT ("auftrag_id", "pos_nr") DO UPDATE SET "sku" = EXCLUDED."sku", '
                              '"menge" = EXCLUDED."menge", "einzelpreis" = EXCLUDED."einzelpreis"')
    assert delete == ('DELETE FROM "auftrag_position" WHERE ("auftrag_id", "pos_nr") IN ((%s, %s))', [7, 2])


def test_an_empty_list_deletes_every_line_and_a_repeat_deletes_none(config: TargetConfig) -> None:
    existing = [{"auftrag_id": 7, "pos_nr": 1}, {"auftrag_id": 7, "pos_nr": 2}]
    assert child_writes(_planned(config, []), {"auftrag_id": 7}, existing, MARIADB, None) == [
        ("DELETE FROM `auftrag_position` WHERE (`auftrag_id`, `pos_nr`) IN ((%s, %s), (%s, %s))", [7, 1, 7, 2])]
    again = child_writes(_planned(config, [line(1), line(2)]), {"auftrag_id": 7}, existing, MARIADB, None)
    assert [s.split(" ")[0] for s, _ in again] == ["INSERT"], "the listed rows are upserted, none deleted"


def test_lines_over_lines_per_call_go_in_several_statements_of_one_transaction(tmp_path: Path) -> None:
    config = load_target(target(tmp_path, limits="limits: {lines_per_call: 2}"), writable=["erp"])
    child = _planned(config, [line(n) for n in range(1, 6)])
    writes = child_writes(child, {"auftrag_id": 7}, [], MARIADB, config.limits.lines_per_call)
    assert [len(params) // 5 for _, params in writes] == [2, 2, 1]


def test_start_checks_the_child_table_and_the_parent_key_against_the_database(config: TargetConfig) -> None:
    parent = [{"name": n, "type": "bigint", "scale": 0} for n in ("auftrag_id", "shop_bestellung", "waehrung")]
    child = [{"name": n, "type": "int", "scale": 0} for n in ("auftrag_id", "pos_nr", "sku", "menge")]
    facts = table_facts(config, {"auftrag": parent, "auftrag_position": child})
    assert facts.problems == [f"line {config.sql_routes()[0].children[0].line}: children auftrag_position: "
                              "auftrag_position has no column einzelpreis; its columns: auftrag_id, menge, pos_nr, sku"]
    assert "table auftrag_position does not exist" in table_facts(config, {"auftrag": parent}).problems[0]
    renamed = [{"name": n, "type": "bigint", "scale": 0} for n in ("id", "shop_bestellung", "waehrung")]
    problems = table_facts(config, {"auftrag": renamed, "auftrag_position": child}).problems
    assert any("parent_key names auftrag_id, which the route's table does not have" in p for p in problems)
    decimals = [*child, {"name": "einzelpreis", "type": "decimal", "scale": 4}]
    assert table_facts(config, {"auftrag": parent, "auftrag_position": decimals}).scales["auftrag_position"] == \
        {"einzelpreis": 4}
