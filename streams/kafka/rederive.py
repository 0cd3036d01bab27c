"""Re-derive requests: replaying a dead-lettered command asks the entity flow that emitted it to derive it again
from its current state, so that what was fixed in the source since is what gets applied, not the stale command.

A request is one ``isthmus.canonical.RederiveRequest`` record (schemas/rederive_request.avsc) on the dead-letter
topic, which every entity flow already reads (for refused creates), keyed by the command's entity key (the dead
letter's own key, so it reaches the flow's task and entity the dead letter reached), with the header
``isthmus.rederive`` naming the flow asked, so that a reader tells it from a dead letter without decoding it
(``isthmus topics dlq list`` and the dashboard skip it: it is no DeadLetter). The flow handles it in its
transaction like any record (:mod:`streams.flows.customers.rederive`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Header of a request: the name of the entity flow asked.
REDERIVE_HEADER = "isthmus.rederive"
REDERIVE_TYPE = "isthmus.canonical.RederiveRequest"


@dataclass(frozen=True, kw_only=True)
class RederiveRequest:
    """Flow ``flow`` is asked to derive again the command of the dead letter at ``dlq_topic[dlq_partition]@
    dlq_offset`` (``dead_letter``: that record's value as read)."""

    flow: str
    dlq_topic: str
    dlq_partition: int
    dlq_offset: int
    dead_letter: bytes
    requested_at: datetime

    @property
    def address(self) -> str:
        """``isthmus.dlq[0]@12``: the dead letter, as lineage and logs name it."""
        return f"{self.dlq_topic}[{self.dlq_partition}]@{self.dlq_offset}"

    def to_avro(self) -> dict[str, Any]:
        return {"flow": self.flow, "dlq_topic": self.dlq_topic, "dlq_partition": self.dlq_partition,
                "dlq_offset": self.dlq_offset, "dead_letter": self.dead_letter, "requested_at": self.requested_at}

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> RederiveRequest:
        return cls(flow=str(value["flow"]), dlq_topic=str(value["dlq_topic"]),
                   dlq_partition=int(value["dlq_partition"]), dlq_offset=int(value["dlq_offset"]),
                   dead_letter=bytes(value["dead_letter"]), requested_at=value["requested_at"])

    def headers(self) -> list[tuple[str, bytes]]:
        return [(REDERIVE_HEADER, self.flow.encode())]


def requested_flow(headers: Iterable[tuple[str, bytes | None]]) -> str | None:
    """The flow a record of the dead-letter topic asks to re-derive (its :data:`REDERIVE_HEADER`), None for a
    dead letter."""
    for name, value in headers:
        if name == REDERIVE_HEADER:
            return (value or b"").decode(errors="replace")
    return None
