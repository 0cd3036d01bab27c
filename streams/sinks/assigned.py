"""The ids a target assigned to an entity's record, for the entity's next commands that were decided without them.

An entity flow learns the id a target gave a record it created (an ERP's ``account_id``) from that target's own
change stream: the row's echo links it. A command decided before that echo (the contacts a CRM user adds a
second after the customer, the first edit) carries null there. Routed by that id (``PATCH
/clients/{erp_account_id}``) without a lookup, it was dead-lettered as ``UnresolvedReference`` although the sink
had just read the id from the create's answer (the route's ``ids``): a new user's trial dead-lettered 101 of 361
commands so on a healthy target, and the target stayed stale until a replay.

The sink applies an entity's commands in order, so when such a command's turn comes the create before it has been
answered. :class:`AssignedIds` keeps the ids each entity's applied commands were answered with (the route's
``ids``, as the answer typed them), and fills a null the command has for a field of that name, unless the command
names the field among its ``changed_fields`` (a null it means: clearing it). A target's id of the record is what
the entity flow would send itself once the echo came. Kept in memory for the most recent entities
(:data:`KEPT_ENTITIES`): a sink restarted between the create and the command, or an entity whose commands moved to
another sink of a fleet, falls back to the route's lookup, else the dead letter and its replay, as before.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from streams.sinks.adapters.mapping import MISSING, get_path
from streams.sinks.outcomes import Applied
from streams.sinks.records import SinkCommand

#: Entities whose assigned ids are kept (the least recently applied forgotten first): an entity's next commands
#: follow its create within seconds, so this covers far more than the commands in flight.
KEPT_ENTITIES = 100_000


class AssignedIds:
    """Per (payload type, entity key): the ids the target answered its applied commands with."""

    def __init__(self, limit: int = KEPT_ENTITIES) -> None:
        self.limit = limit
        self._ids: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        #: Commands whose null ids were filled (for the sink's counts and tests).
        self.filled = 0

    def learn(self, command: SinkCommand, applied: Applied, paths: Mapping[str, str]) -> None:
        """Remember the ids ``applied`` (an answer to ``command``) holds; ``paths``: the route's ``ids`` (the raw
        value is read there, so a number stays a number; else the id as the adapter read it)."""
        if not applied.ids or applied.refused or applied.gone:
            return
        found: dict[str, Any] = {}
        for name, text in applied.ids.items():
            raw = get_path(applied.body, paths[name]) if name in paths and isinstance(
                applied.body, (Mapping, list)) else MISSING
            found[name] = raw if isinstance(raw, (str, int)) and not isinstance(raw, bool) else text
        key = (command.payload_type, command.entity_key)
        known = self._ids.pop(key, {})
        self._ids[key] = {**known, **found}
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def filled_in(self, command: SinkCommand) -> SinkCommand:
        """``command`` with each null field of its payload that a kept id of its entity names filled with it
        (never one it names changed: that null clears the field); the command itself when there is none."""
        known = self._ids.get((command.payload_type, command.entity_key))
        if not known:
            return command
        payload = command.payload
        fill = {name: value for name, value in known.items()
                if name in payload and payload[name] is None and name not in command.changed_fields}
        if not fill:
            return command
        self.filled += 1
        return dataclasses.replace(command, payload={**payload, **fill})


__all__ = ["KEPT_ENTITIES", "AssignedIds"]
