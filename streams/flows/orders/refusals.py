"""The target's refusals of a document flow's creates, brought to the flow keyed by the document.

A sink's results topic is partitioned by command key (:data:`streams.sinks.topics.COMMAND_PARTITIONS`); the
document flow reads the one-partition CDC topics, and a flow's inputs must be co-partitioned. So the flow does
not read the results itself: a keying stage (:func:`streams.flows.engine.repartition.relay`) passes each refused
create or update of one of its documents to the flow's ``<flow>-results-by-key``, keyed by the document's key. The rest
(applied commands, other entities' results) is dropped there: the flow learns what the target applied from the
target's CDC, and the stage keeps thousands of results a second off the flow's single task.
"""

from __future__ import annotations

from collections.abc import Mapping

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.flows.engine.api import Incoming, Store
from streams.flows.orders.holds import RESULT_SCHEMA, refusal_of

Routed = list[tuple[str | None, Incoming]]
#: The operations of a document's commands to its target whose refusal holds it: its create, and an update of
#: its origin's edit (the flow file's ``update``).
REFUSABLE = ("create", "update")


class RefusalKeys:
    """Routes a target's CommandResults (:class:`~streams.flows.engine.repartition.KeyRouter`): a refused create
    or update of a ``payload_type`` document to its key; nothing else. A result that does not decode goes on
    without a key, for the flow to dead-letter with the reason."""

    stores: tuple[str, ...] = ()

    def __init__(self, schemas: SchemaStore, payload_type: str) -> None:
        self.schemas = schemas
        self.payload_type = payload_type

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> Routed:
        if record.value is None:
            return []
        try:
            result = self.schemas.decode(record.value, RESULT_SCHEMA).value
        except CodecError:
            return [(None, record)]
        if result.get("payload_type") != self.payload_type or result.get("operation") not in REFUSABLE:
            return []
        if refusal_of(result) is None:
            return []
        return [(str(result.get("entity_key") or ""), record)]
