"""A delete that ends nothing, in an entity flow without ``active``: said once per system, counted.

Without the section's ``active`` nothing ends an entity (flows/README.md, "What ends an entity"): the entity's row
deleted in one system leaves the other systems' rows as they are, and a system that gets ``create`` gets it again
while an origin other than itself still has the entity (both ways, the row deleted in one system comes back from
the other's copy). A new user's trial deleted rows in both systems and found every one still in the other, an
account deleted in its CRM made there again, and nothing had said so. The flow warns of it when it is built
(:func:`~streams.flows.customers.config.entity_config`); when it decides such a delete, it says the first of each
system (naming the entity, the system, what became of the delete, and the section to read; at info level where
the flow file says ``deletes: ignore``, knowingly) and counts each (:data:`IGNORED_COUNT`).

Which rows a decision finds deleted, the flow marks on the entity as it folds their changes
(:attr:`~streams.flows.customers.state.CustomerState.deleted_now`, not stored): a row deleted and made again in one
source transaction is there when it is decided, so it is no delete.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from streams.flows.commands import Cause, Command
from streams.flows.customers.config import EntityConfig
from streams.flows.customers.state import CustomerState
from streams.flows.engine.api import Context

log = logging.getLogger(__name__)

#: Counted per entity's row deleted in a system while other systems keep the entity: the delete ended nothing.
IGNORED_COUNT = "deletes_ignored"


class IgnoredDeletes:
    """The deletes the decisions of flow ``flow`` find ending nothing, said once per system."""

    def __init__(self, flow: str, config: EntityConfig) -> None:
        self._flow, self._config = flow, config
        self._said: set[str] = set()

    def decided(self, state: CustomerState, commands: Sequence[Command], cause: Cause, ctx: Context) -> None:
        """``state`` was decided on ``cause`` (the last change of it decided), sending ``commands``: each system
        whose row of the entity the changes deleted, while another system keeps the entity, is counted, and the
        first of each system said."""
        deleted = state.deleted_now
        if not deleted:
            return
        state.deleted_now = frozenset()
        if self._config.active is not None:
            return
        for system in sorted(deleted):
            if state.mirror(system).present:
                continue  # made again in the same source transaction
            keeping = [name for name, mirror in state.mirrors.items() if name != system and mirror.present]
            keeping += [name for name in state.creating if name != system and name not in keeping]
            if not keeping:
                continue  # the entity is nowhere else: the delete ended it wherever it was
            ctx.count(IGNORED_COUNT)
            if system in self._said:
                continue
            self._said.add(system)
            again = any(c.target == system and c.operation == "create" for c in commands)
            holders = " and ".join(keeping)
            log.log(
                logging.INFO if self._config.deletes == "ignore" else logging.WARNING,
                "%s: %s %s: its row in %s is deleted (decided with %s), and the flow file names no `active`, so the "
                "delete ends nothing: %s %s the entity as it was%s. To make a delete end the entity, or to say that "
                "it is to end nothing (`deletes: ignore`), see flows/README.md, \"What ends an entity\"; said once "
                "per system, each such delete counted as %s (isthmus_flow_events_total)", self._flow,
                self._config.record.target.rpartition(".")[2], state.customer_number, system, cause.position, holders,
                "keeps" if len(keeping) == 1 else "keep",
                f", and {system} gets `create` again: the row comes back there" if again else "",
                IGNORED_COUNT)
