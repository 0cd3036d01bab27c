"""A write-only system (``capture: none``) sends no echo: what the flow commands there is what it holds.

The mirror of a captured system keeps each commanded value in flight until the system reports it back
(:mod:`~streams.flows.customers.mirror`). A write-only system (a SaaS API with no database Isthmus can capture)
reports nothing, so once a decision is made the values commanded there are settled at once: they are what the
system holds, as far as Isthmus can know. Later changes are compared with them: a changed field is sent as an
``update``, an unchanged one is not, and nothing waits in flight for ever.

Its ``create`` stays in :attr:`~streams.flows.customers.state.CustomerState.creating` (no row ever shows up to
end it): the create was sent, so later changes send updates rather than a second create, and its idempotency key
tells a dead-lettered create apart as the one made (:mod:`~streams.flows.customers.refused` forgets it, a replay
creates again: :mod:`~streams.flows.customers.rederive`).

What Isthmus cannot know: an edit made inside the system is not seen (the next change of a field it writes
overwrites it), and a value the system drops or changes on its own is not noticed (no drift is detected).
"""

from __future__ import annotations

from streams.flows.customers.state import CustomerState


def settle_unechoed(state: CustomerState) -> None:
    """Take the values in flight to each write-only system of ``state``'s flow as what that system holds."""
    for system in state.config.write_only:
        mirror = state.mirrors.get(system)
        if mirror is None or not mirror.pending:
            continue
        for name, queue in mirror.pending.items():
            if queue:
                mirror.reported[name] = queue[-1]
        mirror.pending.clear()
