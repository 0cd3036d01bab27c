"""The creates a sink dead-lettered, so that a later command of the same record that fails says why.

A flow sends an entity's updates while its create is in flight (the sink applies them in order). When the
target refuses the create (a 422 for a name too long), each update behind it fails too, on a look-up or a 404,
and its dead letter, alone, advises to create the record first, as though nothing had tried. The sink keeps,
per record, the create it dead-lettered (bounded, in memory: a restart forgets them), until a create of that
record is applied, and names it in those later dead letters: replay the create first, then them.
"""

from __future__ import annotations

from collections import OrderedDict

from streams.sinks.records import SinkCommand

#: Records remembered at most (the oldest is forgotten first).
REMEMBERED = 10_000


class UnmadeCreates:
    """Per record (entity type and key), the create of it this sink dead-lettered and not applied since."""

    def __init__(self, limit: int = REMEMBERED) -> None:
        self.limit = limit
        self._unmade: OrderedDict[tuple[str, str], str] = OrderedDict()

    def dead_lettered(self, command: SinkCommand, where: str, reason: str) -> str:
        """``command``, read from ``where``, is dead-lettered for ``reason``: the reason its dead letter gives
        (``reason``, and the create of its record dead-lettered before it, if any)."""
        key = (command.entity_type, command.entity_key)
        if command.operation == "create":
            self._unmade[key] = f"create {command.command_id} ({where}): {_shortened(reason)}"
            self._unmade.move_to_end(key)
            while len(self._unmade) > self.limit:
                self._unmade.popitem(last=False)
            return reason
        earlier = self._unmade.get(key)
        if earlier is None:
            return reason
        return (f"{reason}; the target has likely no {command.entity_key} yet: its {earlier} was dead-lettered "
                "before this command, so replay that one first (once its cause is fixed), then this one")

    def applied(self, command: SinkCommand) -> None:
        """``command`` was applied: a create made its record, so nothing of it is unmade any more."""
        if command.operation == "create":
            self._unmade.pop((command.entity_type, command.entity_key), None)


def _shortened(reason: str, limit: int = 300) -> str:
    return reason if len(reason) <= limit else f"{reason[:limit - 1]}…"
