"""One sales order from the CRM to the ERP and its status back: what to command, and when.

- **Create**: a CRM order whose header and lines arrived in one complete source transaction (never a
  snapshot read, whose lines cannot be known complete), with status ``submitted``, not yet linked to an
  ERP order, becomes one ERP ``SalesOrder create`` once its customer's ERP account is known. Until then
  it waits in the ``orders`` store and is looked at again when the customer or the account arrives. Its
  idempotency key comes from the CRM change that made it ready, whatever event finally released it.
- **Hold**: an order ready to go whose customer's ERP account is blocked (as the ERP's CDC last said) is
  not sent: the ERP would refuse it (409 ``account N is blocked``). It is held, the CRM shows it ``on_hold``
  (an ERP-owned status, commanded like the others), and the account's unblock releases it (the create goes
  then). A blocked customer's order is a business state, not an error.
- **Refused in a race**: a create sent before the flow saw the account blocked may be refused by the ERP
  (the sink records that 409 as a result, not a dead letter). When the flow sees the block and has no ERP
  order for a create it sent, it holds the order *in doubt* and, on the unblock, sends the same create
  again: the same payload and idempotency key, so a create the ERP did apply is answered from its
  idempotency table (only 2xx answers are stored there, so a refusal does not use up the key).
- **Cancel**: a CRM user's cancel (or delete) of an order the ERP holds as ``reserved`` becomes an ERP
  ``SalesOrder cancel``; the CRM's later commit wins over the ERP's reservation.
- **Status back**: the ERP order's status and id go to the CRM (``SalesOrder update``, only the fields
  the CRM does not have or will not get from a pending command). The CRM's report of a value we wrote is
  an echo and commands nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.codecs.debezium.envelope import ChangeEvent, Op
from streams.flows.commands import Cause, Command
from streams.flows.engine.api import Incoming
from streams.flows.orders.mapper import Mapper
from streams.flows.orders.mirror import Mirror
from streams.flows.orders.state import State, cause_of, cause_state
from streams.mapping import LookupMissing, MappedChange

SALES_ORDER = "isthmus.canonical.SalesOrder"
#: The CRM fields the ERP's order decides: its status and the link to the ERP order.
MIRRORED = ("status", "erp_order_id")
#: The CRM status of an order held because its customer's ERP account is blocked.
ON_HOLD = "on_hold"
#: The CRM statuses of an order waiting to be created in the ERP.
SENDABLE = ("submitted", ON_HOLD)


def apply_crm_header(state: State, mapper: Mapper, event: ChangeEvent, record: Incoming) -> str:
    """A CRM sales_orders change; returns its order number."""
    row = event.row
    assert row is not None
    values = dict(row)
    if event.op is Op.DELETE:
        values["status"] = "cancelled"
    mapper.validate("sales_order", "crm_sales_orders", values, state.lookup)
    number = str(values["order_number"])
    order = state.get("orders", number)
    mirror = Mirror(order.get("crm_mirror"))
    echo = mirror.observe({f: values.get(f) for f in MIRRORED})
    if echo:
        state.count("echoes_suppressed")
    cancel_requested = bool(order.get("cancel_requested"))
    if not echo:
        if values["status"] == "cancelled":
            cancel_requested = True
        elif not order.get("cancel_sent"):
            cancel_requested = False
    order.update(crm=State.dump(values), crm_id=values["id"], crm_customer_id=values["customer_id"],
                 crm_mirror=mirror.to_state(), crm_cause=cause_state(Cause.of(event, "crm", record)),
                 crm_snapshot=event.op is Op.READ, cancel_requested=cancel_requested)
    state.put("orders", number, order)
    lines = state.get("lines", str(values["id"]))
    if lines.get("order_number") != number:
        state.put("lines", str(values["id"]), {**lines, "order_number": number})
    state.add_customer_order(values["customer_id"], number)
    return number


def apply_crm_line(state: State, mapper: Mapper, event: ChangeEvent) -> str | None:
    """A CRM sales_order_lines change; returns the order number when the order is known."""
    row = event.row
    assert row is not None and event.key is not None
    line_id = ",".join(str(v) for v in event.key.values())
    entry = state.get("lines", str(row["order_id"]))
    lines = dict(entry.get("lines") or {})
    if event.op is Op.DELETE:
        lines.pop(line_id, None)
    else:
        lines[line_id] = State.dump(mapper.row("sales_order_line", "crm_sales_order_lines", row, state.lookup))
    state.put("lines", str(row["order_id"]), {**entry, "lines": lines})
    number: str | None = entry.get("order_number")
    return number


def apply_erp_order(state: State, change: MappedChange, cause: Cause) -> str:
    """An ERP sales order that carries a CRM order number; returns that number."""
    number = str(change.key)
    order = state.get("orders", number)
    values = {**(State.load(order.get("erp")) or {}), **change.values}
    order.update(erp=State.dump(values), erp_cause=cause_state(cause))
    state.put("orders", number, order)
    if values.get("erp_order_id") is not None:
        state.link(f"erp_order:{values['erp_order_id']}", order_number=number)
    return number


def _lines(state: State, order: Mapping[str, Any]) -> list[dict[str, Any]]:
    stored = (state.get("lines", str(order.get("crm_id"))).get("lines") or {}).values()
    lines = [{**State.load(line), "warehouse_code": None} for line in stored]
    return sorted(lines, key=lambda line: line["line_no"])


def canonical(state: State, mapper: Mapper, order: Mapping[str, Any]) -> dict[str, Any] | None:
    """The order as a canonical SalesOrder: the CRM's content with the ERP's id, number and status.

    None while the CRM header is unknown; raises LookupMissing while the customer is."""
    crm = State.load(order.get("crm"))
    if crm is None:
        return None
    values = mapper.row("sales_order", "crm_sales_orders", crm, state.lookup)
    erp = State.load(order.get("erp")) or {}
    crm_cause, erp_cause = cause_of(order.get("crm_cause")), cause_of(order.get("erp_cause"))
    times = [c.commit_time for c in (crm_cause, erp_cause) if c is not None]
    record = {**values, "erp_order_id": crm.get("erp_order_id"), "erp_order_no": None,
              "lines": _lines(state, order), "updated_at": max(times) if times else None}
    for field in ("erp_order_id", "erp_order_no", "erp_account_id", "status"):
        if erp.get(field) is not None:
            record[field] = erp[field]
    return record


def account_blocked(state: State, order: Mapping[str, Any]) -> bool:
    """Whether the order's customer's ERP account is blocked, as the ERP's CDC last reported it."""
    number = state.customer_number_of_crm(order.get("crm_customer_id"))
    if number is None:
        return False
    erp = State.load(state.get("customers", number).get("erp")) or {}
    return bool(erp.get("blocked"))


def _create(number: str, payload: Mapping[str, Any], cause: Cause) -> Command:
    return Command(target="erp", operation="create", entity_type=SALES_ORDER, entity_key=number,
                   payload_type=SALES_ORDER, payload=payload, cause=cause, correlation_id=number)


def _creation(state: State, order: dict[str, Any], number: str, record: Mapping[str, Any],
              crm_cause: Cause) -> list[Command]:
    """Create, hold or re-send the ERP order of a CRM order the ERP does not show yet."""
    blocked = account_blocked(state, order)
    sent = order.get("create_sent")
    if not order.get("created"):
        if blocked:
            order["held"] = True
            return []
        create = _create(number, record, crm_cause)
        order.update(created=create.idempotency_key, held=False, in_doubt=False,
                     create_sent={"payload": State.dump(dict(record)), "cause": cause_state(crm_cause)})
        return [create]
    if blocked:
        # sent, no ERP order seen, and now the account is blocked: the ERP may have refused it
        order.update(held=True, in_doubt=True)
        return []
    order["held"] = False
    if order.get("in_doubt") and sent is not None:
        order["in_doubt"] = False
        cause = cause_of(sent["cause"])
        assert cause is not None
        return [_create(number, State.load(sent["payload"]), cause)]
    return []


def evaluate(state: State, mapper: Mapper, number: str, trigger: Cause) -> list[Command]:
    """The commands order ``number`` needs now; marks them sent in its state."""
    order = state.get("orders", number)
    if not order.get("crm"):
        return []
    before = dict(order)
    crm = State.load(order["crm"])
    erp = State.load(order.get("erp"))
    try:
        record = canonical(state, mapper, order)
    except LookupMissing:
        return []  # the customer is not known yet: the order waits for it
    assert record is not None
    commands: list[Command] = []
    crm_cause = cause_of(order.get("crm_cause"))
    assert crm_cause is not None
    if (erp is None and not order.get("crm_snapshot")
            and crm.get("status") in SENDABLE and crm.get("erp_order_id") is None
            and record["lines"] and record.get("erp_account_id") is not None):
        commands += _creation(state, order, number, record, crm_cause)
    elif order.get("held"):
        order["held"] = False
    if (order.get("cancel_requested") and not order.get("cancel_sent") and erp is not None
            and erp.get("status") == "reserved"):
        cancel = Command(target="erp", operation="cancel", entity_type=SALES_ORDER, entity_key=number,
                         payload_type=SALES_ORDER, payload={**record, "status": "cancelled"}, cause=crm_cause,
                         correlation_id=number)
        commands.append(cancel)
        order["cancel_sent"] = cancel.idempotency_key
    wanted: dict[str, Any] | None = None
    if erp is not None:
        wanted = {"status": erp.get("status"), "erp_order_id": erp.get("erp_order_id")}
        if order.get("cancel_requested") and erp.get("status") == "reserved":
            del wanted["status"]  # the CRM's cancel is on its way to the ERP
    elif order.get("held"):
        wanted = {"status": ON_HOLD}
    if wanted:
        mirror = Mirror(order.get("crm_mirror"))
        due = mirror.due(wanted)
        if due:
            commands.append(Command(
                target="crm", operation="update", entity_type=SALES_ORDER, entity_key=number,
                payload_type=SALES_ORDER, payload={**record, **wanted}, cause=trigger, changed_fields=due,
                correlation_id=number))
            mirror.commanded({f: wanted[f] for f in due})
            order["crm_mirror"] = mirror.to_state()
    order["canonical"] = State.dump(record)
    if order != before:
        state.put("orders", number, order)
    return commands
