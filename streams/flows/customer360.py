"""The customer-360 view: one customer as both systems know it, in the compacted topic ``isthmus.customer360``.

The parts meet in the order-to-cash flow (it reads the CRM customers and orders and the ERP accounts,
orders, invoices and payments), so that flow assembles the view (:func:`assemble`) whenever a part of a
customer changes and emits it (:func:`emit_if_changed`) keyed by customer number, only when it differs
from the last one emitted. Compaction keeps the latest view per customer.

The customer master in the view takes each field from the system that owns it (``mappings/customer.yaml``):
the owner's value when it has one, else the other system's; for ``latest_commit_wins`` fields the value
committed last (ties: the owner).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.commands import payload_json
from streams.flows.engine.api import Context, Store
from streams.mapping import FieldPolicy, Policy

VIEW_SCHEMA = "isthmus.canonical.Customer360"
#: Fields of the ERP account as the ERP holds it, by their names in the mapped ERP account values.
_ACCOUNT_FIELDS = ("account_code", "name", "email", "phone", "billing_address", "credit_limit", "payment_terms",
                   "blocked", "active")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: The systems (``systems/<name>.yaml``) the two sides of the view are, as field owners name them.
_CRM, _ERP = "crm", "erp"


def merge_customer(*, customer_number: str, crm: Mapping[str, Any] | None, crm_at: dt.datetime | None,
                   erp: Mapping[str, Any] | None, erp_at: dt.datetime | None,
                   policies: Mapping[str, FieldPolicy]) -> dict[str, Any] | None:
    """The customer master from the mapped CRM customer and ERP account; None while neither has a name."""
    sides = {_CRM: (crm or {}, crm_at or _EPOCH), _ERP: (erp or {}, erp_at or _EPOCH)}
    record: dict[str, Any] = {"customer_number": customer_number}
    for field in {*(crm or {}), *(erp or {})} - {"customer_number"}:
        policy = policies.get(field)
        having = [s for s in (_CRM, _ERP) if field in sides[s][0]]
        if policy is None or len(having) == 1:
            chosen = having[0] if policy is None or policy.owner not in having else policy.owner
        elif policy.policy is Policy.OWNER_WINS:
            chosen = policy.owner
        else:
            other = _ERP if policy.owner == _CRM else _CRM
            chosen = other if sides[other][1] > sides[policy.owner][1] else policy.owner
        record[field] = sides[chosen][0][field]
    if record.get("name") is None:
        return None
    times = [t for t in (crm_at, erp_at) if t is not None]
    record["updated_at"] = max(times) if times else None
    return record


def account_of(customer_number: str, erp: Mapping[str, Any] | None,
               erp_at: dt.datetime | None) -> dict[str, Any] | None:
    """The linked ERP account as the ERP holds it."""
    if not erp or erp.get("erp_account_id") is None:
        return None
    account = {f: erp[f] for f in _ACCOUNT_FIELDS if f in erp}
    return {**account, "account_id": erp["erp_account_id"], "crm_customer_number": customer_number,
            "updated_at": erp_at}


def _newest_first(records: Sequence[Mapping[str, Any]], field: str) -> list[dict[str, Any]]:
    return sorted((dict(r) for r in records), key=lambda r: r.get(field) or _EPOCH, reverse=True)


def assemble(*, customer: Mapping[str, Any], account: Mapping[str, Any] | None,
             orders: Sequence[Mapping[str, Any]], invoices: Sequence[Mapping[str, Any]],
             open_balance: Decimal | None, times: Sequence[dt.datetime] = ()) -> dict[str, Any]:
    """The Customer360 record (Avro values); ``times`` are further commit times folded into it (invoices and
    payments carry none of their own in the view)."""
    live_invoices = [i for i in invoices if not i.get("deleted")]
    order_times = [o["ordered_at"] for o in orders if o.get("ordered_at") is not None]
    folded = [t for t in (customer.get("updated_at"), *(o.get("updated_at") for o in orders), *times)
              if t is not None]
    return {
        "customer_number": customer["customer_number"],
        "customer": {**customer, "open_balance": open_balance},
        "account": dict(account) if account else None,
        "orders": _newest_first(orders, "ordered_at"),
        "invoices": _newest_first(live_invoices, "issued_at"),
        "open_balance": open_balance,
        "lifetime_value": sum((i["amount"] for i in live_invoices), Decimal(0)) if live_invoices else None,
        "last_order_at": max(order_times) if order_times else None,
        "updated_at": max(folded) if folded else _EPOCH,
    }


def emit_if_changed(ctx: Context, schemas: SchemaStore, views: Store, topic: str, view: Mapping[str, Any]) -> bool:
    """Emit ``view`` unless it equals the last view emitted for its customer (kept in ``views``)."""
    number = str(view["customer_number"])
    digest = hashlib.sha256(payload_json(view).encode()).hexdigest()
    if (views.get(number) or {}).get("digest") == digest:
        return False
    ctx.emit(topic, key=number, value=schemas.encode(VIEW_SCHEMA, view))
    views.put(number, {"digest": digest})
    return True
