"""The repository's mappings applied to real captured Debezium changes, and the engine's edge cases."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest
from support.systems import reference_systems, reference_with, tables_with
from support.systems import system as declared

from streams.codecs import ChangeEvent, Op
from streams.codecs.avro.schemas import SchemaSet
from streams.codecs.avro.single_object import SchemaStore
from streams.mapping import (
    ColumnsMissing,
    Context,
    Engine,
    LookupMissing,
    MappedChange,
    MappingValueError,
    RecordMapping,
    map_change,
    project,
)

UTC = dt.UTC
Event = Callable[[str], ChangeEvent]


def one(mapping: RecordMapping, event: ChangeEvent, system: str, context: Context, schemas: SchemaSet) -> MappedChange:
    (change,) = map_change(mapping, event, system, context, schemas.named)
    return change


def test_crm_customer_update_asserts_only_what_changed(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    change = one(mappings["customer"], captured("crm_customers_u_1"), "crm", context, schemas)
    assert change.key == "C-990001" and not change.deleted
    assert change.asserted == ("name", "credit_limit")
    assert change.values["credit_limit"] == Decimal("-0.05") and change.base is not None
    assert change.base["name"] == "FIXTURE capture customer"
    assert change.commit_time == captured("crm_customers_u_1").source.commit_time


def test_crm_snapshot_asserts_every_bound_field(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    change = one(mappings["customer"], captured("crm_customers_r_1"), "crm", context, schemas)
    assert set(change.asserted) == set(change.values) - {"customer_number"}
    assert change.base is None


def test_crm_delete_deactivates(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    change = one(mappings["customer"], captured("crm_customers_d_1"), "crm", context, schemas)
    assert change.deleted and change.values == {"customer_number": "C-990001", "active": False}
    assert change.asserted == ("active",)


def test_erp_account_booleans_and_billing_address(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    change = one(mappings["customer"], captured("erp_accounts_u_1"), "erp", context, schemas)
    assert change.values["blocked"] is True and change.values["active"] is True
    assert change.values["billing_address"] == {
        "kind": "billing",
        "line1": "1 Fixture Road",
        "city": "Shanghai",
        "postal_code": None,
        "country": "CN",
    }
    assert change.asserted == ("credit_limit", "payment_terms", "blocked")


def test_erp_account_without_billing_city_has_no_address(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    event = captured("erp_accounts_r_1")
    assert event.after is not None
    event = dataclasses.replace(event, after={**event.after, "billing_city": None})
    assert one(mappings["customer"], event, "erp", context, schemas).values["billing_address"] is None


def test_address_rows_go_to_billing_or_shipping_by_kind(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    created = captured("crm_addresses_c_1")
    change = one(mappings["customer"], created, "crm", context, schemas)
    assert change.source.name == "crm_billing_address" and change.values["billing_address"]["line1"] == "1 FIXTURE Road"
    assert created.after is not None
    moved = dataclasses.replace(
        created, op=Op.UPDATE, before=created.after, after={**created.after, "kind": "shipping"}
    )
    changes = {c.source.name: c for c in map_change(mappings["customer"], moved, "crm", context, schemas.named)}
    assert changes["crm_billing_address"].deleted
    assert changes["crm_billing_address"].values == {"customer_number": "C-990001", "billing_address": None}
    assert not changes["crm_shipping_address"].deleted
    assert changes["crm_shipping_address"].values["shipping_address"]["kind"] == "shipping"


def test_lookup_through_the_cross_reference(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    change = one(mappings["sales_order"], captured("crm_sales_orders_c_1"), "crm", context, schemas)
    assert change.values["customer_number"] == "C-990001" and change.values["erp_account_id"] == 5
    assert change.values["status"] == "submitted"


def test_required_lookup_missing_is_retryable(
    mappings: dict[str, RecordMapping], captured: Event, schemas: SchemaSet
) -> None:
    empty = Context(lookup=lambda record, by, key: None)
    with pytest.raises(LookupMissing, match=r"sales_order\.yaml:\d+ customer_number: no .*CustomerAccountXref"):
        map_change(mappings["sales_order"], captured("crm_sales_orders_c_1"), "crm", empty, schemas.named)


def test_erp_order_time_converted_from_shanghai_and_status_mapped(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    change = one(mappings["sales_order"], captured("erp_sales_orders_u_1"), "erp", context, schemas)
    assert change.values["ordered_at"] == dt.datetime(2024, 3, 10, 6, 30, 0, 123000, tzinfo=UTC)
    assert change.values["status"] == "shipped" and change.asserted == ("status",)


def test_erp_zone_comes_from_its_system_file(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    new_york = Context.of(reference_systems("America/New_York"), lookup=context.lookup)
    change = one(mappings["sales_order"], captured("erp_sales_orders_c_1"), "erp", new_york, schemas)
    assert change.values["ordered_at"] == dt.datetime(2024, 3, 10, 18, 30, 0, 123000, tzinfo=UTC)


def test_skipped_local_time_is_shifted_forward_by_the_gap(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    """sales_order.yaml declares `local_times: {skipped: shift_forward}`: the order is mapped, never refused for
    its time (a refusal needs `nonexistent: raise` on the step: tests/mapping/test_mapping_local_times.py)."""
    event = captured("erp_sales_orders_c_1")
    assert event.after is not None
    skipped = dataclasses.replace(event, after={**event.after, "order_date": dt.datetime(2024, 3, 10, 2, 30)})
    new_york = Context.of(reference_systems("America/New_York"), lookup=context.lookup)
    (change,) = map_change(mappings["sales_order"], skipped, "erp", new_york, schemas.named)
    assert change.values["ordered_at"] == dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC)  # 03:30 EDT


def test_erp_child_rows_find_their_parent(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    line = one(mappings["sales_order_line"], captured("erp_sales_order_lines_c_1"), "erp", context, schemas)
    assert line.parent_key == "SO-990001" and line.key == 1
    assert line.values == {
        "line_no": 1,
        "sku": "FIXTURE-SKU-1",
        "quantity": Decimal("2.500"),
        "unit_price": Decimal("19.99"),
        "warehouse_code": "FXW1",
    }


def test_invoice_payment_shipment(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    invoice = one(mappings["invoice"], captured("erp_invoices_u_1"), "erp", context, schemas)
    assert invoice.values["status"] == "paid" and invoice.values["order_number"] == "SO-990001"
    assert invoice.values["issued_at"] == dt.datetime(2024, 3, 11, 2, 0, tzinfo=UTC)
    assert invoice.values["due_date"] == dt.date(2024, 4, 10)
    payment = one(mappings["payment"], captured("erp_payments_c_1"), "erp", context, schemas)
    assert payment.values["paid_at"] == dt.datetime(2024, 3, 12, 8, 45, 30, 250000, tzinfo=UTC)
    shipment = one(mappings["shipment"], captured("erp_shipments_c_1"), "erp", context, schemas)
    assert shipment.values["tracking_no"] == "FX123" and shipment.values["order_number"] == "SO-990001"
    deleted = one(mappings["invoice"], captured("erp_invoices_d_1"), "erp", context, schemas)
    assert deleted.deleted and deleted.values == {"invoice_id": deleted.key, "deleted": True}


def test_stock_level_computes_available(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    change = one(mappings["stock_level"], captured("erp_stock_u_1"), "erp", context, schemas)
    assert change.key == ("FIXTURE-SKU-1", "FXW1")
    assert change.values["available"] == Decimal("95.000") and change.asserted == ("reserved", "available")


def test_mapped_records_encode_under_their_schema(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    store = SchemaStore(schemas)
    for name, fixture, system in (
        ("invoice", "erp_invoices_c_1", "erp"),
        ("payment", "erp_payments_c_1", "erp"),
        ("shipment", "erp_shipments_c_1", "erp"),
        ("stock_level", "erp_stock_c_1", "erp"),
        ("contact", "crm_contacts_c_1", "crm"),
    ):
        change = one(mappings[name], captured(fixture), system, context, schemas)
        decoded = store.decode(store.encode(mappings[name].target, change.values))
        assert {k: decoded.value[k] for k in change.values} == change.values


def test_account_payload_projects_the_customer(
    mappings: dict[str, RecordMapping], schemas: SchemaSet, context: Context
) -> None:
    mapping = mappings["account"]
    customer: Mapping[str, Any] = {
        "customer_number": "C-000123",
        "erp_account_id": None,
        "name": "Zhang",
        "email": None,
        "phone": None,
        "billing_address": None,
        "credit_limit": Decimal("10.00"),
        "payment_terms": "NET30",
        "blocked": False,
        "active": False,
        "updated_at": None,
    }
    account = project(mapping, customer, context, schemas.named)
    assert account["account_code"] == "AC-000123" and account["crm_customer_number"] == "C-000123"
    assert account["active"] is False and account["credit_limit"] == Decimal("10.00")
    with pytest.raises(MappingValueError, match="does not start with 'C-'"):
        Engine(mapping, schemas.named).map_row(mapping.sources[0], {**customer, "customer_number": "X-1"}, context)


def test_truncate_and_unmapped_tables_give_nothing(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    event = captured("crm_customers_u_1")
    assert (
        map_change(mappings["customer"], dataclasses.replace(event, op=Op.TRUNCATE), "crm", context, schemas.named)
        == ()
    )
    assert map_change(mappings["invoice"], event, "crm", context, schemas.named) == ()


def test_inexact_decimal_is_refused_not_rounded(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    event = captured("erp_invoices_c_1")
    assert event.after is not None
    odd = dataclasses.replace(event, after={**event.after, "amount": Decimal("59.975")})
    with pytest.raises(MappingValueError, match=r"invoice\.yaml:\d+ amount: .*more than 2 decimals"):
        map_change(mappings["invoice"], odd, "erp", context, schemas.named)


def test_local_to_utc_without_a_zone_uses_the_zone_of_the_system_each_source_reads(
    load: Callable[..., RecordMapping], schemas: SchemaSet
) -> None:
    systems = reference_with(declared("shop", time_zone="Europe/Berlin"), env={"ISTHMUS_ERP_TIME_ZONE": "Asia/Tokyo"})
    text = """
        target: isthmus.canonical.Payment
        key: payment_id
        owner: shop
        policy: owner_wins
        sources:
          shop_payments:
            system: shop
            table: payments
            fields: &fields
              payment_id: payment_id
              invoice_id: invoice_id
              erp_account_id: account_id
              amount: amount
              paid_at: {from: paid_at, transform: [local_to_utc]}
          erp_payments:
            system: erp
            table: payments
            fields: *fields
        """
    mapping = load(text, systems=systems, tables=tables_with("shop", payments=("erp", "payments")))
    row = {"payment_id": 1, "invoice_id": 2, "account_id": 3, "amount": 1, "paid_at": dt.datetime(2024, 7, 1, 12, 0)}
    engine, context = Engine(mapping, schemas.named), Context.of(systems)
    shop, erp = mapping.sources
    assert engine.map_row(shop, row, context)["paid_at"] == dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    assert engine.map_row(erp, row, context)["paid_at"] == dt.datetime(2024, 7, 1, 3, 0, tzinfo=UTC)
    with pytest.raises(MappingValueError, match=r"no time zone for system 'shop'.*Context.of"):
        engine.map_row(shop, row, Context.of(reference_with()))


def _without(event: ChangeEvent, column: str) -> ChangeEvent:
    """``event`` as Debezium writes it once the table's ``column`` is renamed or dropped."""
    def drop(row: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        return None if row is None else {k: v for k, v in row.items() if k != column}
    return dataclasses.replace(event, before=drop(event.before), after=drop(event.after))


def test_a_change_without_a_column_its_condition_reads_is_refused_not_skipped(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    """Read as null, ``crm_customer_number is not None`` would be false: the account's changes all skipped."""
    event = _without(captured("erp_accounts_u_1"), "crm_customer_number")
    with pytest.raises(ColumnsMissing, match=r"erp\.accounts: the change has no column crm_customer_number, which "
                                             r"customer\.yaml \(source erp_accounts\) reads"):
        map_change(mappings["customer"], event, "erp", context, schemas.named)


def test_a_row_without_a_mapped_column_is_refused_by_the_engine(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    engine = Engine(mappings["customer"], schemas.named)
    (source,) = [s for s in mappings["customer"].sources if s.name == "crm_customers"]
    row = _without(captured("crm_customers_r_1"), "email").after
    assert row is not None
    with pytest.raises(ColumnsMissing, match=r"no column email.*isthmus mappings discover crm"):
        engine.require(source, row)
    with pytest.raises(ColumnsMissing):
        engine.map_row(source, row, context)
    whole = captured("crm_customers_r_1").after
    assert whole is not None
    engine.require(source, {**whole, "added_later": 1})  # a column the mapping does not read may come and go


@pytest.mark.parametrize("name", ["crm_customers_u_1", "crm_customers_r_1", "crm_customers_d_1"])
def test_a_decoded_change_and_its_mapping_hold_every_field_as_their_init_sets_them(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet, name: str
) -> None:
    """The decoder and the engine set these frozen dataclasses' fields at once, not through ``__init__``: each
    holds every field, in their order, and equals what ``__init__`` makes of the same values."""
    event = captured(name)
    change = one(mappings["customer"], event, "crm", context, schemas)
    for made in (event, change):
        names = [f.name for f in dataclasses.fields(made)]
        assert list(vars(made)) == names
        assert type(made)(**vars(made)) == made
