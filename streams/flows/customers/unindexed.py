"""Look-ups of the link the flow's ``index`` does not answer, for entities the flow may well have.

The index (``<id field>=<id>`` -> record key) is filled by the link's changes only, for the id fields some source
looks up at the time (``EntityConfig.indexed``). A mapping changed to find its rows' entity through a look-up
(a vendor's contact rows keyed by the vendor code, looked up so that a contact of an unknown vendor waits for it)
after the linked rows were read finds no entry for any entity made before: its rows' changes are parked until the
entity's link row changes again, and a wait that lasts is held as one for a record the flow "does not know".

- A look-up by the entity's own key is answered by the entity (:func:`answers`): stored under that key and linked
  (a row of the link was seen, as for the index to hold the entry; an ended entity too, as its entries stay).
  Changes already parked for it are not overtaken: a new one waits behind them, and the flow's tick releases them
  all, in their order (:func:`answerable`).
- A look-up by another id cannot be answered without the index: the hold names the fix (:func:`index_fix`), an
  incremental snapshot of the link's tables (``isthmus connectors snapshot``), whose reads fill the index and
  release the changes waiting (mappings/README.md, "Changing a mapping: data already synced").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.flows.customers.config import EntityConfig
from streams.flows.customers.state import CustomerState
from streams.flows.engine.api import Store
from streams.flows.engine.objects import ObjectView
from streams.flows.parking import ParkingLot
from streams.systems import Systems


def _linked(entities: ObjectView[CustomerState], key: Any) -> bool:
    return isinstance(key, str) and bool(key) and bool(entities.get(key).xref)


def answers(entities: ObjectView[CustomerState], parked: Store, waiting_for: str, key: Any) -> bool:
    """Whether entity ``key`` answers a look-up of the link by its own key (``waiting_for``, the index key the
    look-up missed): it is linked, and no change parked for it waits to go first."""
    return _linked(entities, key) and not ParkingLot(parked).is_waiting(waiting_for)


def answerable(config: EntityConfig, entities: ObjectView[CustomerState], parked: Store) -> list[str]:
    """The waits of the lot in ``parked`` for an entity's own key whose entity answers them now (:func:`answers`),
    parked while it did not (by an older version, or behind one so parked)."""
    if config.key not in config.indexed:
        return []
    prefix = f"{config.key}="
    return [waiting_for for waiting_for, _ in ParkingLot(parked).waiting()
            if waiting_for.startswith(prefix) and _linked(entities, waiting_for[len(prefix):])]


def index_fix(config: EntityConfig, systems: Systems) -> Callable[[str], str | None]:
    """What a hold of changes waiting for ``<id field>=<id>`` tells to do: check the link's row of that id, and, if
    it exists, re-read the link's tables that map the field (their snapshot fills the index). None for a wait the
    flow's link does not map (the hold's general text then)."""
    fixes: dict[str, tuple[list[str], list[str]]] = {}
    for source in config.link.sources:
        spec = systems.get(source.system) if source.system else None
        if source.table is None or spec is None or spec.connector is None:
            continue
        for by in config.indexed:
            if by in source.bindings:
                rows, snapshots = fixes.setdefault(by, ([], []))
                rows.append(f"{source.system}'s {source.table} row")
                snapshots.append(f"`isthmus connectors snapshot {spec.connector} --tables {source.table}`")

    def fix(waiting_for: str) -> str | None:
        by, _, value = waiting_for.partition("=")
        if by not in fixes:
            return None
        rows, snapshots = fixes[by]
        return (f"check that {' or '.join(rows)} of {by} {value} exists and is captured; if it is, the flow read it "
                f"before a mapping looked rows up by {by} (a mapping changed since) and its index lacks the entry: "
                f"re-read the rows that fill it: {' or '.join(snapshots)}")

    return fix
