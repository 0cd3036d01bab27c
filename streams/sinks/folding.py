"""Updates of one entity waiting behind another, folded into the last of them: its latest state, written once.

A sink applies one entity's commands in order, one at a time. A row changed thirty times a second (a trial's hot
accounts) gave the target every intermediate value, one call each, ~3.5 a second an entity: after three minutes
its target was twenty-five minutes behind, and every entity queued behind those in the partition waited too.

An entity flow's ``update`` carries the whole record as it was decided (:mod:`streams.flows.customers.mirror`), and
names the fields it changes. So two updates of one entity waiting in the sink together do what the later one
does when it names the fields of both: the later record holds the latest value of each, which is what the
earlier's fields hold once both are applied. As a key's next command is taken, each update queued behind it that
it may fold into takes it over (:func:`folds`): sent once, with both commands' changed fields; the echo of that
write settles the flow's expectation of the earlier values too (a reported value equal to one in flight settles
it and those before it: ``Mirror``).

Folded only: ``update`` into ``update`` of the same target, entity type, key and payload type, each naming its
fields, from a flow that reads no result of it (``reads_refusals`` false: an entity flow's; a document flow keeps
its own count of the edits in flight), neither a replay of a dead letter. A command folded into a later one ends
with it (``SinkWorker._folded_output``): a CommandResult of the later one's status when it was applied (its
response names the command that carried its fields), a dead letter naming it when that one was not.
``ISTHMUS_SINK_FOLD_UPDATES=false`` sends every command as it came.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from streams.kafka.deadletters import REPLAY_HEADER
from streams.sinks.records import SinkCommand

UPDATE = "update"


def folds(earlier: SinkCommand, later: SinkCommand, headers: Sequence[tuple[str, bytes | None]] = (),
          later_headers: Sequence[tuple[str, bytes | None]] = ()) -> SinkCommand | None:
    """``later`` carrying ``earlier``'s changed fields too, when it may do what both would (see the module); None
    when they must go one after the other. ``headers``: each command's record headers."""
    if earlier.operation != UPDATE or later.operation != UPDATE or earlier.reads_refusals or later.reads_refusals \
            or not earlier.changed_fields or not later.changed_fields:
        return None
    if (earlier.target, earlier.entity_type, earlier.entity_key, earlier.payload_type) != (
            later.target, later.entity_type, later.entity_key, later.payload_type):
        return None
    if any(name == REPLAY_HEADER for name, _ in (*headers, *later_headers)):
        return None
    changed = tuple(dict.fromkeys((*earlier.changed_fields, *later.changed_fields)))
    return later if changed == later.changed_fields else dataclasses.replace(later, changed_fields=changed)
