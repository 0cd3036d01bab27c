"""A create the target refused counts as not created; an end it refused, as not ended.

The sinks dead-letter a command the target refuses for good (the reference ERP's 422 on an invalid account,
``isthmus.dlq``, stage ``sink.<system>``). The entity flow reads that topic (one partition, like the CDC
topics) and, for a dead-lettered ``create`` of its own record that is still the creation in flight for its
entity (same idempotency key) while that system has no row of it, forgets the creation: the system holds
nothing (its mirror is reset, so the ``update`` commands sent on top of the create are forgotten too). No
command is sent then when the record is as the create carried it, since the same data would be refused again;
the next change of the entity's source sends ``create`` again, with the data the record has then (a corrected
row). When the record changed since the create was sent (the correction came while it was in flight, and its
change was decided as an update on top of it), the flow decides the entity again at once (see the flow's
``_refused``): else that correction would wait for yet another change.

A refused end counts as not ended, likewise: a dead-lettered ``on_inactive`` command (``deactivate``) that is still
the end in flight there leaves the system holding the entity as it last reported it. Nothing more is sent to a
system while its end is in flight (:func:`~streams.flows.customers.sync.decide`: its echo decides), so the end is
forgotten; an entity re-activated meanwhile is decided again at once (what was held goes), one still ended sends
its end again with its next change.

A create a route declares as a business refusal (``refusals``) ends as a CommandResult on
``isthmus.results.<system>``, which has the command topics' partition count and is not an input here; such
a refusal (the multi-origin race's 409) means the row exists, and its own CDC row links the entity.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.flows.customers.config import EntityConfig
from streams.flows.customers.state import CustomerState
from streams.flows.engine.api import Incoming
from streams.flows.engine.objects import ObjectView
from streams.sinks.topics import SINK_STAGE

log = logging.getLogger(__name__)


def forget_refused(record: Incoming, entities: ObjectView[CustomerState], *, config: EntityConfig,
                   schemas: SchemaStore) -> Mapping[str, Any] | None:
    """Forget the creation, or the end, a dead letter refused; the refused command when it was the entity's creation
    (or end) in flight, else None. ``entities``: the batch's view of the entity flow's ``entities`` store."""
    if record.value is None:
        return None
    try:
        letter = schemas.decode(record.value).value
        stage = str(letter.get("stage") or "")
        system = stage[len(SINK_STAGE):]
        if not stage.startswith(SINK_STAGE) or system not in config.written or letter.get("value") is None:
            return None
        command: Mapping[str, Any] = schemas.decode(letter["value"]).value
    except (CodecError, AttributeError, TypeError) as exc:
        log.debug("%s: not a dead-lettered command (%s); ignored", record.position, exc)
        return None
    operation = command.get("operation")
    key = str(command.get("entity_key") or "")
    if command.get("entity_type") != config.record.target or not key:
        return None
    if operation == "create":
        state = entities.get(key)
        if state.creating.get(system) != command.get("idempotency_key") or state.linked(system):
            return None
        del state.creating[system]
        state.mirror(system).gone()
        entities.put(key, state)
        log.info("%s: the %s create of %s was refused (%s); it is sent again with changed data (now, if the entity "
                 "changed since it was sent, else on its next change)",
                 record.position, system, key, letter.get("reason"))
        return command
    active = config.active
    if active is None or operation != (config.written[system].on_inactive or config.on_inactive):
        return None
    state = entities.get(key)
    mirror = state.mirror(system)
    if not mirror.ending(active):
        return None  # not the end in flight (reported since, or another command went after it)
    queue = mirror.pending[active]
    queue.pop()
    if not queue:
        del mirror.pending[active]
    entities.put(key, state)
    log.info("%s: the %s %s of %s was refused (%s); %s keeps it as it reported it, and it is sent again with the "
             "entity's next change while the entity has ended", record.position, system, operation, key,
             letter.get("reason"), system)
    return command
