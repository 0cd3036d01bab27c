"""The customer-360 view's parts: the customer master by field owner and policy, the account as the ERP holds
it, orders and invoices newest first, totals, and a record that encodes under schemas/customer_360.avsc."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from streams.codecs.avro.single_object import SchemaStore
from streams.flows import customer360
from streams.mapping import load_mappings

T = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)
POLICIES = load_mappings()["customer"].policies
CRM = {"customer_number": "C-000001", "crm_customer_id": 1, "name": "Harbour CRM", "phone": "+86 21 1",
       "credit_limit": Decimal("10.00")}
ERP = {"customer_number": "C-000001", "erp_account_id": 11, "account_code": "AC-000011", "name": "Harbour ERP",
       "phone": "+86 21 2", "credit_limit": Decimal("5000.00"), "blocked": True, "active": True}


def merged(crm_at: dt.datetime, erp_at: dt.datetime) -> dict[str, object]:
    record = customer360.merge_customer(customer_number="C-000001", crm=CRM, crm_at=crm_at, erp=ERP, erp_at=erp_at,
                                        policies=POLICIES)
    assert record is not None
    return record


def test_each_field_comes_from_its_owner() -> None:
    record = merged(T, T)
    assert record["name"] == "Harbour CRM" and record["crm_customer_id"] == 1  # the CRM owns them
    assert record["credit_limit"] == Decimal("5000.00") and record["blocked"] is True  # the ERP owns them
    assert record["account_code"] == "AC-000011" and record["updated_at"] == T


def test_latest_commit_wins_fields_take_the_later_commit_and_ties_go_to_the_owner() -> None:
    later = T + dt.timedelta(seconds=1)
    assert merged(T, later)["phone"] == "+86 21 2"
    assert merged(later, T)["phone"] == "+86 21 1"
    assert merged(T, T)["phone"] == "+86 21 1"


def test_a_side_alone_gives_its_values_and_no_name_gives_no_view() -> None:
    alone = customer360.merge_customer(customer_number="C-000001", crm=None, crm_at=None, erp=ERP, erp_at=T,
                                       policies=POLICIES)
    assert alone is not None and alone["name"] == "Harbour ERP"
    assert customer360.merge_customer(customer_number="C-000001", crm=None, crm_at=None, erp=None, erp_at=None,
                                      policies=POLICIES) is None


def test_the_view_orders_newest_first_sums_live_invoices_and_encodes() -> None:
    customer = merged(T, T)
    account = customer360.account_of("C-000001", ERP, T)
    assert account is not None and account["account_id"] == 11 and account["crm_customer_number"] == "C-000001"
    orders = [{"order_number": f"SO-00000{n}", "ordered_at": T + dt.timedelta(days=n), "updated_at": T,
               "status": "reserved", "lines": []} for n in (1, 3, 2)]
    invoices = [
        {"invoice_id": 1, "invoice_no": "I1", "erp_order_id": 1, "erp_account_id": 11, "amount": Decimal("10.00"),
         "issued_at": T, "due_date": dt.date(2026, 4, 1)},
        {"invoice_id": 2, "invoice_no": "I2", "erp_order_id": 2, "erp_account_id": 11, "amount": Decimal("5.50"),
         "issued_at": T + dt.timedelta(days=1), "due_date": dt.date(2026, 4, 2)},
        {"invoice_id": 3, "invoice_no": "I3", "erp_order_id": 3, "erp_account_id": 11, "amount": Decimal("99.00"),
         "issued_at": T, "due_date": dt.date(2026, 4, 3), "deleted": True},
    ]
    later = T + dt.timedelta(days=9)
    view = customer360.assemble(customer=customer, account=account, orders=orders, invoices=invoices,
                                open_balance=Decimal("3.50"), times=[later])
    assert [o["order_number"] for o in view["orders"]] == ["SO-000003", "SO-000002", "SO-000001"]
    assert [i["invoice_id"] for i in view["invoices"]] == [2, 1]
    assert view["lifetime_value"] == Decimal("15.50") and view["open_balance"] == Decimal("3.50")
    assert view["customer"]["open_balance"] == Decimal("3.50")
    assert view["last_order_at"] == T + dt.timedelta(days=3) and view["updated_at"] == later
    store = SchemaStore.from_directory()
    decoded = store.decode(store.encode(customer360.VIEW_SCHEMA, view)).value
    assert decoded["orders"][0]["order_number"] == "SO-000003" and decoded["account"]["account_code"] == "AC-000011"
