"""A customer's open balance in the CRM: invoiced minus paid over the ERP account's invoices and payments.

``mappings/customer.yaml`` declares the sums (``erp_invoiced``: ``sum: amount``, ``erp_paid``: ``sum:
-amount``, grouped by account); :func:`streams.mapping.aggregate.fold` keeps each invoice's and payment's
contribution, so an update replaces it and a delete removes it. The CRM gets a ``Customer update`` of
``open_balance`` whenever the total differs from what the CRM has (its echo of our write commands nothing;
an edit there is overwritten: the ERP owns the field).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from streams.flows.commands import Cause, Command
from streams.flows.orders.mirror import Mirror
from streams.flows.orders.state import State
from streams.mapping import MappedChange, fold

CUSTOMER = "isthmus.canonical.Customer"
FIELD = "open_balance"


def apply(state: State, change: MappedChange) -> str:
    """Fold one invoice or payment into its account's balance; returns the account id (store key)."""
    account = str(change.group_key[0])
    entry = state.get("accounts", account)
    members = {tuple(json.loads(k)): State.load(v) for k, v in (entry.get("members") or {}).items()}
    total = fold(members, change)
    entry["members"] = {json.dumps(list(k)): State.dump(dict(v)) for k, v in total.members.items()}
    entry["total"] = State.dump(total.totals[FIELD])
    state.put("accounts", account, entry)
    return account


def observe_crm(state: State, customer_number: str, open_balance: Any) -> None:
    """The CRM reported the customer's open balance (our echo, or anything else)."""
    customer = state.get("customers", customer_number)
    mirror = Mirror(customer.get("balance"))
    if mirror.observe({FIELD: open_balance}):
        state.count("echoes_suppressed")
    customer["balance"] = mirror.to_state()
    state.put("customers", customer_number, customer)


def total(state: State, customer_number: str) -> Decimal | None:
    account = state.account_id_of(customer_number)
    if account is None:
        return None
    found: Decimal | None = State.load(state.get("accounts", str(account)).get("total"))
    return found


def evaluate(state: State, customer_number: str, trigger: Cause) -> list[Command]:
    balance = total(state, customer_number)
    customer = state.get("customers", customer_number)
    if balance is None or not customer.get("crm") or customer.get("balance") is None:
        return []
    mirror = Mirror(customer.get("balance"))
    if not mirror.due({FIELD: balance}):
        return []
    xref = state.xref(customer_number) or {}
    payload = {"customer_number": customer_number, "crm_customer_id": xref.get("crm_customer_id"),
               "erp_account_id": xref.get("erp_account_id"), FIELD: balance}
    mirror.commanded({FIELD: balance})
    customer["balance"] = mirror.to_state()
    state.put("customers", customer_number, customer)
    return [Command(target="crm", operation="update", entity_type=CUSTOMER, entity_key=customer_number,
                    payload_type=CUSTOMER, payload=payload, cause=trigger, changed_fields=(FIELD,), part=FIELD)]
