"""Sums over a group: available quantity per SKU over warehouses, open balance per account."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal

import pytest

from streams.codecs import ChangeEvent, Op
from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import Context, MappedChange, MappingError, RecordMapping, fold, map_change

Event = Callable[[str], ChangeEvent]


def stock(captured: Event, warehouse: str, on_hand: str, reserved: str, op: Op = Op.UPDATE) -> ChangeEvent:
    event = captured("erp_stock_u_1")
    assert event.after is not None
    row = {**event.after, "warehouse_code": warehouse, "on_hand": Decimal(on_hand), "reserved": Decimal(reserved)}
    key = {"sku": row["sku"], "warehouse_code": warehouse}
    if op is Op.DELETE:
        return dataclasses.replace(event, op=op, before=row, after=None, key=key)
    return dataclasses.replace(event, op=op, after=row, key=key)


def mapped(mapping: RecordMapping, event: ChangeEvent, context: Context, schemas: SchemaSet) -> MappedChange:
    (change,) = map_change(mapping, event, "erp", context, schemas.named)
    return change


def test_available_quantity_sums_warehouses_and_replays_do_not_double_count(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    mapping = mappings["product_availability"]
    group = fold(None, mapped(mapping, stock(captured, "W1", "100.000", "2.500"), context, schemas))
    assert group.totals == {"available_qty": Decimal("97.500")}
    change_w2 = mapped(mapping, stock(captured, "W2", "10.000", "0.000"), context, schemas)
    group = fold(group.members, change_w2)
    group = fold(group.members, change_w2)
    assert group.totals == {"available_qty": Decimal("107.500")}
    assert str(group.totals["available_qty"]) == "107.500"
    group = fold(group.members, mapped(mapping, stock(captured, "W1", "100.000", "50.000"), context, schemas))
    assert group.totals["available_qty"] == Decimal("60.000")
    group = fold(group.members, mapped(mapping, stock(captured, "W2", "10.000", "0.000", Op.DELETE), context, schemas))
    assert group.totals["available_qty"] == Decimal("50.000") and len(group.members) == 1


def test_open_balance_is_invoiced_minus_paid(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    mapping = mappings["customer"]
    invoice = mapped(mapping, captured("erp_invoices_c_1"), context, schemas)
    payment = mapped(mapping, captured("erp_payments_c_1"), context, schemas)
    assert invoice.group_key == payment.group_key == (5,) and invoice.key == payment.key == "C-990001"
    group = fold(None, invoice)
    assert group.totals == {"open_balance": Decimal("59.97")}
    group = fold(group.members, payment)
    assert group.totals == {"open_balance": Decimal("0.00")}
    group = fold(group.members, mapped(mapping, captured("erp_payments_d_1"), context, schemas))
    assert group.totals == {"open_balance": Decimal("59.97")}


def test_fold_needs_a_summing_source(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    with pytest.raises(MappingError, match="sums no field"):
        fold(None, mapped(mappings["invoice"], captured("erp_invoices_c_1"), context, schemas))
