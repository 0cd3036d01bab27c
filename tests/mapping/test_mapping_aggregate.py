"""Sums over a group: available quantity per SKU over warehouses, open balance per account."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from decimal import Decimal

import pytest

from streams.codecs import ChangeEvent, Op
from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import Context, MappedChange, MappingError, RecordMapping, Step, fold, map_change, totals_of

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
    rows: dict[tuple[object, ...], Mapping[str, object]] = {}

    def step(totals: Mapping[str, object] | None, change: MappedChange) -> Mapping[str, object]:
        done = fold(totals, rows.get(change.member_key), change)
        if done.contribution is None:
            rows.pop(change.member_key, None)
        else:
            rows[change.member_key] = done.contribution
        return done.totals

    totals = step(None, mapped(mapping, stock(captured, "W1", "100.000", "2.500"), context, schemas))
    assert totals == {"available_qty": Decimal("97.500")}
    change_w2 = mapped(mapping, stock(captured, "W2", "10.000", "0.000"), context, schemas)
    totals = step(totals, change_w2)
    totals = step(totals, change_w2)
    assert totals == {"available_qty": Decimal("107.500")}
    assert str(totals["available_qty"]) == "107.500"
    totals = step(totals, mapped(mapping, stock(captured, "W1", "100.000", "50.000"), context, schemas))
    assert totals["available_qty"] == Decimal("60.000")
    totals = step(totals, mapped(mapping, stock(captured, "W2", "10.000", "0.000", Op.DELETE), context, schemas))
    assert totals["available_qty"] == Decimal("50.000") and len(rows) == 1
    assert totals_of(rows.values(), change_w2) == totals


def test_open_balance_is_invoiced_minus_paid(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    mapping = mappings["customer"]
    invoice = mapped(mapping, captured("erp_invoices_c_1"), context, schemas)
    payment = mapped(mapping, captured("erp_payments_c_1"), context, schemas)
    assert invoice.group_key == payment.group_key == (5,) and invoice.key == payment.key == "C-990001"
    step = fold(None, None, invoice)
    assert step.totals == {"open_balance": Decimal("59.97")}
    paid = fold(step.totals, None, payment)
    assert paid.totals == {"open_balance": Decimal("0.00")}
    assert fold(paid.totals, paid.contribution, mapped(mapping, captured("erp_payments_d_1"), context, schemas)) \
        == Step(contribution=None, totals={"open_balance": Decimal("59.97")})


def test_fold_needs_a_summing_source(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    with pytest.raises(MappingError, match="sums no field"):
        fold(None, None, mapped(mappings["invoice"], captured("erp_invoices_c_1"), context, schemas))
