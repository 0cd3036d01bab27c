"""The order-to-cash flow's state, over its stores, and the cross-reference the mappings look up.

Stores (JSON objects, canonical values kept exact with :mod:`streams.flows.engine.values`):

- ``orders``: per order number, the CRM header row, the ERP order, what was commanded, the CRM mirror.
- ``lines``: per CRM order id, its order number (once known) and its CRM lines by line id. Lines live apart
  from the header because a snapshot may deliver lines before their order.
- ``links``: ``crm:<customer id>`` -> customer number and order numbers; ``erp:<account id>`` and
  ``erp_order:<order id>`` -> customer number and order number.
- ``customers``: per customer number, the mapped CRM customer and ERP account, commit times, the CRM
  mirror of the open balance.
- ``accounts``: per ERP account id, the balance contributions of its invoices and payments and its invoices.
- ``parked``: ``erp:<account id>`` -> invoice and payment records waiting for the account's customer.
- ``tx``: the transaction join (:mod:`streams.flows.orders.txjoin`).
- ``views``: per customer number, a digest of the customer-360 view last emitted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from streams.flows.commands import Cause
from streams.flows.engine.api import Context, JsonValue, Store
from streams.flows.engine.values import from_store, to_store

STORES = ("tx", "orders", "lines", "links", "customers", "accounts", "parked", "views")


def cause_state(cause: Cause) -> JsonValue:
    return dict(to_store(dataclasses.asdict(cause)))


def cause_of(state: Mapping[str, Any] | None) -> Cause | None:
    return None if state is None else Cause(**from_store(dict(state)))


class State:
    """Typed access to the stores of one task."""

    def __init__(self, ctx: Context) -> None:
        self.stores = ctx.stores
        self.count = ctx.count

    def store(self, name: str) -> Store:
        return self.stores[name]

    def get(self, store: str, key: str) -> JsonValue:
        return dict(self.stores[store].get(key) or {})

    def put(self, store: str, key: str, value: JsonValue | None) -> None:
        self.stores[store].put(key, value)

    # cross-reference

    def customer_number_of_crm(self, crm_customer_id: Any) -> str | None:
        found: str | None = self.get("links", f"crm:{crm_customer_id}").get("customer_number")
        return found

    def customer_number_of_account(self, account_id: Any) -> str | None:
        found: str | None = self.get("links", f"erp:{account_id}").get("customer_number")
        return found

    def account_id_of(self, customer_number: str) -> int | None:
        erp = self.get("customers", customer_number).get("erp") or {}
        found: int | None = erp.get("erp_account_id")
        return found

    def xref(self, customer_number: str | None) -> dict[str, Any] | None:
        if customer_number is None:
            return None
        customer = self.get("customers", customer_number)
        crm, erp = customer.get("crm") or {}, customer.get("erp") or {}
        return {"customer_number": customer_number, "crm_customer_id": crm.get("crm_customer_id"),
                "erp_account_id": erp.get("erp_account_id"), "account_code": erp.get("account_code")}

    def lookup(self, record: str, by: str, key: Any) -> Mapping[str, Any] | None:
        """The mappings' ``lookup:`` transform, answered from the stores."""
        name = record.rpartition(".")[2]
        if name == "CustomerAccountXref":
            if by == "crm_customer_id":
                return self.xref(self.customer_number_of_crm(key))
            if by == "erp_account_id":
                return self.xref(self.customer_number_of_account(key))
            if by == "customer_number":
                return self.xref(str(key))
        if name == "SalesOrder":
            if by == "crm_order_id":
                number = self.get("lines", str(key)).get("order_number")
            elif by == "erp_order_id":
                number = self.get("links", f"erp_order:{key}").get("order_number")
            else:
                number = str(key) if by == "order_number" else None
            return {"order_number": number} if number is not None else None
        return None

    def customer_orders(self, crm_customer_id: Any) -> list[str]:
        return list(self.get("links", f"crm:{crm_customer_id}").get("orders", []))

    def add_customer_order(self, crm_customer_id: Any, order_number: str) -> None:
        link = self.get("links", f"crm:{crm_customer_id}")
        orders = link.setdefault("orders", [])
        if order_number not in orders:
            orders.append(order_number)
            self.put("links", f"crm:{crm_customer_id}", link)

    def link(self, key: str, **values: Any) -> None:
        link = self.get("links", key)
        if any(link.get(k) != v for k, v in values.items()):
            link.update(values)
            self.put("links", key, link)

    @staticmethod
    def load(value: Any) -> Any:
        return from_store(value)

    @staticmethod
    def dump(value: Any) -> Any:
        return to_store(value)
