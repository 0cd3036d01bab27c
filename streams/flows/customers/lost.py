"""An entity ended by a target's delete of its record, while an origin keeps it live: said, once.

A system that gets ``create`` and loses its record (deleted there, seen through its CDC) gets ``create`` again
while the entity lives (:meth:`~streams.flows.customers.state.CustomerState.linked`). When that delete wins the
record's ``active`` field (its source's ``on_delete`` sets it false, and the field's policy lets that system win:
the reference ERP's delete, ``active`` being the latest commit's), the entity ends instead, as flows/README.md
says, and is not created there again. An origin that hears of the end (its ``on_inactive``) shows it; one that
does not (``on_inactive: ignore``, as the reference CRM, or a ``writes`` without ``active``) keeps its row as it
was, and its later changes send that system nothing, because the entity is ended. That is the rule, but the
origin's user sees a record that just stopped syncing, so the flow says so when the delete is decided: a warning
naming the entity, the system and the way back, and a count (:data:`ENDED_COUNT`). Only once: the entity's
``active`` must have been set by the very change decided (its stamp is that change's system and commit time),
which a later change is not. A delete in one of several origins is no target's: it ends the entity everywhere,
as any origin's delete that wins does.
"""

from __future__ import annotations

import logging

from streams.flows.commands import Cause
from streams.flows.customers.config import EntityConfig
from streams.flows.customers.state import CustomerState

log = logging.getLogger(__name__)

#: Counted per entity a target's delete ended while an origin keeps it live.
ENDED_COUNT = "ended_by_target_delete"


def ended_by_delete(state: CustomerState, cause: Cause) -> tuple[str, list[str]] | None:
    """The target whose delete of the entity's record, in the change ``cause`` names (the last of its group),
    ended the entity, and the origins that keep it live (none: None)."""
    config = state.config
    active, system = config.active, cause.system
    if (active is None or state.active or system in config.origins or not config.creates_in(system)
            or not state.deleted_in(system)):
        return None
    stamp = state.provenance.get(active)
    if stamp is None or stamp.system != system or stamp.commit_time != cause.commit_time:
        return None  # ended before, or by another system
    keeping = [origin for origin in config.origins if state.mirror(origin).present and _keeps(config, origin)]
    return (system, keeping) if keeping else None


def _keeps(config: EntityConfig, origin: str) -> bool:
    """Does ``origin`` keep an ended entity as it was: not written, or never sent the end (its ``on_inactive`` is
    ``ignore``, or its ``writes`` leave ``active`` out)?"""
    role = config.written.get(origin)
    if role is None or config.active not in role.record_writes:
        return True
    return (role.on_inactive or config.on_inactive) == "ignore"


def say_ended(state: CustomerState, cause: Cause, flow: str) -> bool:
    """Warn when ``cause``'s change is a target's delete that ended the entity while an origin keeps it live
    (:func:`ended_by_delete`); whether it did."""
    ended = ended_by_delete(state, cause)
    if ended is None:
        return False
    config = state.config
    system, keeping = ended
    holders = " and ".join(keeping)
    log.warning(
        "%s: %s %s: %s deleted its record (%s), and that delete ended it (%s false, which a delete there sets and "
        "wins), while %s keeps it as it was: it is not created in %s again, and changes in %s send nothing while it is "
        "ended. To sync it again, make it live where %s is decided (a record for %s made again in %s, or %s set "
        "true in a system that maps it and wins it); to end it for good, delete it in %s too", flow,
        config.record.target.rpartition(".")[2], state.customer_number, system, cause.position, config.active,
        holders, system, holders, config.active, state.customer_number, system, config.active, holders)
    return True
