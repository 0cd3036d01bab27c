"""One customer: fold a system's change into the reconciled record, then decide the commands that bring
both systems to it.

Folding first settles echoes (:mod:`~streams.flows.customers.mirror`), then reconciles the remaining
asserted fields by ownership and policy (:func:`streams.mapping.reconcile`). Deciding compares the
reconciled record with what each system holds or will hold: the ERP gets an ``Account create`` once (then
the creation is pending until the account shows up), afterwards ``Account update`` with only the changed
fields, and ``Account deactivate`` when the customer became inactive (never a delete). The CRM gets the link
(``CustomerAccountXref update``) and the ERP-owned fields (``Customer update``). A value one system lost
by policy differs from what that system holds, so it is written back the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.codecs.debezium.envelope import Op
from streams.flows.commands import Cause, Command
from streams.flows.customers.mirror import DEFAULTS, HELD, MISSING, held_view
from streams.flows.customers.sides import CRM, ERP
from streams.flows.customers.state import CustomerState
from streams.mapping import Context, MappedChange, RecordMapping, project, reconcile

CUSTOMER = "isthmus.canonical.Customer"
ACCOUNT = "isthmus.canonical.Account"
XREF = "isthmus.canonical.CustomerAccountXref"


@dataclass(frozen=True, kw_only=True)
class CustomerMappings:
    """The mapping files the customer flow applies (mappings/*.yaml by stem)."""

    customer: RecordMapping
    xref: RecordMapping
    contact: RecordMapping
    account: RecordMapping


def fold(state: CustomerState, change: MappedChange, *, observed: Mapping[str, Any], op: Op,
         settled_at: dt.datetime, echoes_seen: list[str] | None = None) -> tuple[Mapping[str, Any], ...]:
    """Fold ``change`` (of a Debezium ``op``) into ``state``; ``observed`` holds every value the system
    reports for the customer. Returns the conflict records settled; the fields that were echoes of our own
    commands are added to ``echoes_seen``."""
    system = change.system
    mirror = state.mirror(system)
    prior = dict(mirror.reported)
    echoes: set[str] = set()
    if not change.deleted:
        for name, value in observed.items():
            if mirror.observe(name, value):
                echoes.add(name)
    if echoes_seen is not None:
        echoes_seen.extend(sorted(echoes))
    skipped = set(echoes)
    if op in (Op.CREATE, Op.READ):
        # A new row shows the value a field had before the commands still in flight for it: not an edit.
        skipped |= {n for n in HELD[system] if mirror.pending.get(n)}
        # Nor is an empty mirror of a field the other system owns and has set: nothing was synced yet.
        policies = change.mapping.policies
        skipped |= {n for n in change.asserted if change.values.get(n) is None and n in policies
                    and policies[n].owner != system and n in state.provenance
                    and state.provenance[n].system == policies[n].owner}
    if op is Op.READ:
        # A snapshot re-reads the row: a value the system already reported is not an edit made now.
        skipped |= {n for n in change.asserted
                    if prior.get(n, MISSING) == held_view(system, n, change.values.get(n))}
    asserted = tuple(f for f in change.asserted if f not in skipped)
    result = reconcile(entity_type=CUSTOMER, entity_key=state.customer_number, current=state.record,
                       provenance=state.provenance, incoming=change.values, asserted=asserted, base=change.base,
                       system=system, commit_time=change.commit_time, policies=change.mapping.policies,
                       settled_at=settled_at)
    state.record = dict(result.record)
    state.provenance = dict(result.provenance)
    if result.changed:
        latest = state.record.get("updated_at")
        state.record["updated_at"] = change.commit_time if latest is None else max(latest, change.commit_time)
    return result.conflicts


def fold_xref(state: CustomerState, change: MappedChange, *, settled_at: dt.datetime) -> None:
    """The cross-reference follows its own mapping; its conflicts are the Customer's (same fields, same
    owners) and are audited there."""
    had_account = state.xref.get("erp_account_id") is not None
    result = reconcile(entity_type=XREF, entity_key=state.customer_number, current=state.xref,
                       provenance=state.xref_provenance, incoming=change.values, asserted=change.asserted,
                       base=change.base, system=change.system, commit_time=change.commit_time,
                       policies=change.mapping.policies, settled_at=settled_at)
    state.xref = dict(result.record)
    state.xref_provenance = dict(result.provenance)
    if state.xref.get("erp_account_id") is not None:
        state.creating = None
        if not had_account:
            state.xref["linked_at"] = change.commit_time
    elif had_account:
        state.xref["linked_at"] = None


def fold_contact(state: CustomerState, change: MappedChange) -> None:
    key = str(change.key)
    if change.deleted:
        state.contacts.pop(key, None)
    else:
        state.contacts[key] = dict(change.values)


def _account(state: CustomerState, mappings: CustomerMappings, context: Context,
             named: Mapping[str, Any]) -> dict[str, Any]:
    record = {**DEFAULTS, **state.record, "customer_number": state.customer_number}
    return project(mappings.account, record, context, named)


def decide(state: CustomerState, cause: Cause, *, mappings: CustomerMappings, context: Context,
           named: Mapping[str, Any]) -> list[Command]:
    """The commands that bring both systems to the reconciled record; the mirrors remember them."""
    key = state.customer_number
    commands: list[Command] = []

    def command(target: str, operation: str, payload_type: str, payload: Mapping[str, Any],
                changed: tuple[str, ...] = ()) -> None:
        commands.append(Command(target=target, operation=operation, entity_type=CUSTOMER, entity_key=key,
                                payload_type=payload_type, payload=payload, cause=cause, changed_fields=changed))

    erp = state.erp
    if state.crm.present and not state.linked and state.creating is None and state.value("active"):
        command(ERP, "create", ACCOUNT, _account(state, mappings, context, named))
        state.creating = commands[-1].idempotency_key
        for name in HELD[ERP]:
            if state.value(name) is not None:
                erp.command(name, state.value(name))
            else:
                erp.reported[name] = None  # the create leaves the ERP's default: known, so a later value is sent
    elif state.linked or state.creating is not None:
        changed = tuple(n for n in HELD[ERP] if erp.differs(n, state.value(n)))
        deactivate = "active" in changed and state.value("active") is False
        updated = tuple(n for n in changed if not (deactivate and n == "active"))
        if updated:
            command(ERP, "update", ACCOUNT, _account(state, mappings, context, named), updated)
        if deactivate:
            command(ERP, "deactivate", ACCOUNT, _account(state, mappings, context, named), ("active",))
        for name in changed:
            erp.command(name, state.value(name))

    crm = state.crm
    if crm.present:
        if crm.differs("erp_account_id", state.value("erp_account_id")):
            xref = {"crm_customer_id": state.value("crm_customer_id"), "account_code": state.value("account_code"),
                    "erp_account_id": state.value("erp_account_id"), "linked_at": state.xref.get("linked_at"),
                    "customer_number": key}
            command(CRM, "update", XREF, xref, ("erp_account_id",))
            crm.command("erp_account_id", state.value("erp_account_id"))
        mirrored = tuple(n for n in HELD[CRM] if n != "erp_account_id" and crm.differs(n, state.value(n)))
        if mirrored:
            payload = {k: v for k, v in (state.canonical() or {}).items() if k not in ("provenance", "contacts")}
            command(CRM, "update", CUSTOMER, {**payload, "customer_number": key}, mirrored)
            for name in mirrored:
                crm.command(name, state.value(name))
    return commands
