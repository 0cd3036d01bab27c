"""A party's balance in the origin: a sum over the target's rows, as the party's mapping file declares it.

The ``balance:`` role names the party sources that sum the field (the reference: ``mappings/customer.yaml``'s
``erp_invoiced``, ``sum: amount``, and ``erp_paid``, ``sum: -amount``); :mod:`streams.flows.sums` keeps each row's
contribution apart (store ``members``), so an update replaces it and a delete removes it. The origin gets an
``update`` of the field whenever the total differs from what the origin has (its echo of our write commands nothing;
an edit there is overwritten: the target owns the field).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from streams.flows.commands import Cause, Command
from streams.flows.orders.mapper import Mapper
from streams.flows.orders.mirror import Mirror
from streams.flows.orders.order import key_text
from streams.flows.orders.state import State
from streams.flows.sums import MEMBERS, add
from streams.mapping import MappedChange


def apply(state: State, mapper: Mapper, change: MappedChange) -> str:
    """Fold one row into its party's balance; returns the party's key."""
    party = key_text(change.key)
    entry = state.get("balances", party)
    totals = add(state.store(MEMBERS), party, entry, change)
    entry["total"] = State.dump(totals[_field(mapper)])
    state.put("balances", party, entry)
    return party


def observed(state: State, mapper: Mapper, entry: dict[str, Any], value: Any) -> dict[str, Any]:
    """A party's ``entry`` once the origin reported its balance ``value`` (our echo, or anything else); the
    caller writes it with the party's other changes (one read and one write of the party per change)."""
    field = _field(mapper)
    mirror = Mirror(entry.get("balance"))
    if mirror.observe({field: value}):
        state.count("echoes_suppressed")
    entry["balance"] = mirror.to_state()
    return entry


def total(state: State, party: str) -> Decimal | None:
    found: Decimal | None = State.load(state.get("balances", party).get("total"))
    return found


def _field(mapper: Mapper) -> str:
    """The party's balance field (only asked of a flow that keeps one)."""
    assert mapper.config.balance is not None
    return mapper.config.balance.field


def evaluate(state: State, mapper: Mapper, party: str, trigger: Cause) -> list[Command]:
    """The origin's ``update`` of the party's balance when its total differs from what the origin has; none when
    the flow keeps no balance (its flow file has no ``balance:``)."""
    config = mapper.config
    if config.balance is None:
        return []
    field = config.balance.field
    balance = total(state, party)
    if balance is None:
        return []
    entry = state.get("parties", party)
    if not entry.get(config.origin_system) or entry.get("balance") is None:
        return []
    mirror = Mirror(entry.get("balance"))
    if not mirror.due({field: balance}):
        return []
    origin = State.load(entry.get(config.origin_system)) or {}
    target = State.load(entry.get(config.target_system)) or {}
    payload = {config.party.field: party, config.party.ref.by: origin.get(config.party.ref.by),
               config.party.account: target.get(config.party.account), field: balance}
    mirror.commanded({field: balance})
    entry["balance"] = mirror.to_state()
    state.put("parties", party, entry)
    return [Command(target=config.origin_system, operation="update", entity_type=config.party.mapping.target,
                    entity_key=party, payload_type=config.party.mapping.target, payload=payload, cause=trigger,
                    changed_fields=(field,), part=field)]
