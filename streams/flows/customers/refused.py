"""A create the target refused counts as not created; an end it refused, as not ended; an update it refused, as not
made.

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

A refused ``update`` is forgotten too: each value it commanded leaves the queue of values in flight to that system
(:class:`~streams.flows.customers.mirror.Mirror`), where it would have stayed for ever (no echo comes of a write
never made), so that what the system reports next is judged against what it really holds: an edit made there
is written back where it lost, and a report of that value is no echo. A value is matched by the command's
changed fields and what its payload carried for them, in the form the system keeps it; one the queue holds more
than once is left (which of them was refused cannot be told), as is a field whose payload field the payload
mapping fills from several record fields, or whose value a transform there changed. Nothing is sent at once (it
would be refused again); the entity's next change sends the record's value where the system differs, and a value
the target refuses for good is dead-lettered again, each time with the reason.

A refusal the sink would record as a CommandResult (a route's ``refusals`` answer, or a document over the target's
``limits.lines_per_call`` without ``parts``) is dead-lettered too, since this flow's commands say it reads no
results (``reads_refusals`` false; ``isthmus.results.<system>`` is not an input here): such a create is forgotten
the same way.

A create refused where the entity is linked already (several origins holding it: the 409 of a row that exists, whose
own CDC row linked the entity, :mod:`~streams.flows.customers.overlap`) leaves no row missing: what it carried is
taken out of what is in flight there, the entity is decided again at once (what the system lacks is sent), and the
dead letter is noted settled. Before, it was ignored: pending, and its values hid what the system holds.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.flows.commands import payload_json
from streams.flows.customers.config import EntityConfig, SystemRole
from streams.flows.customers.mirror import Mirror
from streams.flows.customers.overlap import owner_holds_other
from streams.flows.customers.state import CustomerState
from streams.flows.customers.sync import payload_feeds
from streams.flows.engine.api import Incoming
from streams.flows.engine.objects import ObjectView
from streams.sinks.bounded import letter_command
from streams.sinks.bounded import same_payload as same_payload  # the flow's test of a refused create's data
from streams.sinks.topics import SINK_STAGE

log = logging.getLogger(__name__)


def forget_refused(record: Incoming, entities: ObjectView[CustomerState], *, config: EntityConfig,
                   schemas: SchemaStore) -> Mapping[str, Any] | None:
    """Forget the creation, the end or the update a dead letter refused; the refused command when it was the entity's
    creation (or end) in flight, else None (an update is never decided again at once: it would be refused again).
    ``entities``: the batch's view of the entity flow's ``entities`` store."""
    if record.value is None:
        return None
    try:
        letter = schemas.decode(record.value).value
        stage = str(letter.get("stage") or "")
        system = stage[len(SINK_STAGE):]
        if not stage.startswith(SINK_STAGE) or system not in config.written:
            return None
        command = letter_command(letter, schemas)  # its fields alone when the sink left its value out
        if command is None:
            return None
    except (CodecError, AttributeError, TypeError) as exc:
        log.debug("%s: not a dead-lettered command (%s); ignored", record.position, exc)
        return None
    operation = command.get("operation")
    key = str(command.get("entity_key") or "")
    if command.get("entity_type") != config.record.target or not key:
        return None
    if operation == "update":
        state = entities.get(key)
        role = config.written[system]
        carried = ({name: name for name in role.link_back} if command.get("payload_type") == config.link.target
                   else _carried(role))
        forgotten = _forget_update(command, state.mirror(system), carried)
        if forgotten:
            entities.put(key, state)
            log.info("%s: the %s update of %s was refused (%s); %s no longer counts %s as on its way there, and the "
                     "entity's next change sends the record's value where %s differs", record.position, system, key,
                     letter.get("reason"), system, ", ".join(forgotten), system)
        return None
    if operation == "create":
        state = entities.get(key)
        if state.linked(system):
            # the entity's own row there linked it: the create met that row, and what it carried is not on its way
            forgotten = _forget_met(command, state, config.written[system])
            entities.put(key, state)
            log.info("%s: the %s create of %s was refused (%s), but %s holds its own row of it, linked since; %s "
                     "no longer counts %s as on its way there, and the entity is decided again now",
                     record.position, system, key, letter.get("reason"), system, system,
                     ", ".join(forgotten) or "nothing it carried")
            return command
        if state.creating.get(system) != command.get("idempotency_key"):
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


def _forget_update(command: Mapping[str, Any], mirror: Mirror, carried: Mapping[str, str]) -> list[str]:
    """Take each value the refused update ``command`` carried for a field it changed (``carried``: record field ->
    the payload field with its value) out of the values in flight to ``mirror``'s system (module docstring); the
    record fields whose value was taken out."""
    if not mirror.pending:
        return []
    payload = _payload(command)
    changed = set(command.get("changed_fields") or ())
    forgotten = []
    for name, queue in list(mirror.pending.items()):
        field = carried.get(name)
        if field is None or field not in changed or field not in payload:
            continue
        sent = _as_sent(mirror.view(name, payload[field]))
        found = [index for index, value in enumerate(queue) if _as_sent(value) == sent]
        if len(found) != 1:
            continue
        del queue[found[0]]
        if not queue:
            del mirror.pending[name]
        forgotten.append(name)
    return forgotten


def _forget_met(command: Mapping[str, Any], state: CustomerState, role: SystemRole) -> list[str]:
    """Take each value the refused ``create`` carried out of what is in flight to ``role``'s system, where the
    entity's own row linked it (:mod:`~streams.flows.customers.overlap`): carried over that row, or first in flight
    for a field the system never reported (its row does not show it; a value in flight after it is a later
    command's, which may carry the same value). Not a field the system owns whose value the record holds from
    another system: forgotten, that value would be sent over the owner's
    (:func:`~streams.flows.customers.overlap.owner_holds_other`). The fields forgotten."""
    mirror = state.mirror(role.name)
    payload = _payload(command)
    forgotten = []
    for name, field in _carried(role).items():
        if field not in payload or owner_holds_other(state, role.name, name):
            continue
        sent = _as_sent(mirror.view(name, payload[field]))
        queue = mirror.pending.get(name)
        if name in mirror.carried and _as_sent(mirror.carried[name]) == sent:
            del mirror.carried[name]
        elif queue and name not in mirror.reported and _as_sent(queue[0]) == sent:
            del queue[0]
            if not queue:
                del mirror.pending[name]
        else:
            continue
        forgotten.append(name)
    return forgotten


def _payload(command: Mapping[str, Any]) -> Mapping[str, Any]:
    """A dead-lettered command's payload (empty when it is no JSON object)."""
    try:
        payload = json.loads(str(command.get("payload") or "{}"))
    except ValueError:
        return {}
    return payload if isinstance(payload, Mapping) else {}


def _carried(role: SystemRole) -> Mapping[str, str]:
    """Record field -> the payload field that carries it in ``role``'s commands: itself without a payload mapping;
    with one, the payload field its binding reads from it alone (one that reads several fields, or a field read
    into several, tells no value of its own)."""
    if role.payload is None:
        return {name: name for name in role.holds}
    feeds = payload_feeds(role.payload)
    readers = Counter(payload for fed in feeds.values() for payload in fed)
    return {name: fed[0] for name, fed in feeds.items() if len(fed) == 1 and readers[fed[0]] == 1}


def _as_sent(value: Any) -> Any:
    """``value`` as a command's payload carries it (JSON: decimals and times as text), so that a value in flight and
    one read back from a dead-lettered command compare."""
    return json.loads(payload_json({"value": value}))["value"]
