"""What a sink tells ``isthmus status`` (and the dashboard) of itself, through the offsets it commits.

A sink joins no consumer group (streams/sinks/worker.py): Kafka shows no member for it, running or not, and its
transactions are its signs of life. A sink whose target fails applies nothing, so it has nothing to commit, and
looked the same as a sink that is not running ("start `isthmus sink`", which would start a second one). So:

- while records wait for it and it committed nothing for :data:`HEARTBEAT_S`, a sink commits the offsets it holds
  again (a heartbeat: no record written, no offset moved), which keeps its transactional id's last transaction
  recent;
- every offset it commits carries its :class:`SinkNote` in the offset's metadata (Kafka keeps it with the committed
  offset; ``offset.metadata.max.bytes``, 4096 by default, bounds it: the note stays under 1 KiB): its
  breaker's state, when its offsets last moved, and why its oldest retrying command fails.

A recent transaction says the sink runs; the note says whether it applies anything (its offsets moved within the
bound) and, when not, why. Nothing new is asked of the cluster: the sink's own group and transactional id.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

#: While records wait, a sink that committed nothing for this long commits its offsets again. ``isthmus status
#: --stall-after`` should stay well above it (its default, 120 s, is four heartbeats).
HEARTBEAT_S = 30.0
#: The note's key in the offsets' metadata.
KEY = "isthmus-sink"
#: Characters of the oldest retrying command's reason the note keeps (the broker's offset.metadata.max.bytes, 4096
#: by default, bounds the whole note).
FAILING_SHOWN = 150


@dataclass(frozen=True, kw_only=True)
class SinkNote:
    """A sink's state as it committed it: its breaker, when it wrote the note and when its offsets last moved (ms,
    its clock; None: not since it started), why its oldest retrying command fails, and whether the target refuses
    its credentials."""

    breaker: str
    at_ms: int
    advanced_ms: int | None = None
    failing: str | None = None
    credentials_refused: bool = False

    def encode(self) -> str:
        """The note as offset metadata: compact JSON under :data:`KEY`, its ``failing`` cut to :data:`FAILING_SHOWN`
        characters (escaped, at most 6 bytes each: the note stays under 1 KiB)."""
        failing = self.failing if self.failing is None or len(self.failing) <= FAILING_SHOWN \
            else self.failing[:FAILING_SHOWN - 1] + "…"
        return json.dumps({KEY: {**asdict(self), "failing": failing}}, separators=(",", ":"))

    @classmethod
    def decode(cls, metadata: str | None) -> SinkNote | None:
        """The note in an offset's ``metadata``; None when there is none (a sink of an older Isthmus), or it is not
        one."""
        try:
            found: Any = json.loads(metadata or "")[KEY]
            return cls(breaker=str(found["breaker"]), at_ms=int(found["at_ms"]),
                       advanced_ms=None if found.get("advanced_ms") is None else int(found["advanced_ms"]),
                       failing=None if found.get("failing") is None else str(found["failing"]),
                       credentials_refused=bool(found.get("credentials_refused")))
        except (ValueError, TypeError, KeyError):
            return None

    def text(self) -> str:
        """What the note says of the target, as a reader says it: ``breaker open; credentials refused; failing: …``."""
        said = [f"breaker {self.breaker}"]
        if self.credentials_refused:
            said.append("credentials refused")
        if self.failing:
            said.append(f"its oldest retrying command fails with: {self.failing}")
        return "; ".join(said)


def latest(metadata: list[str | None]) -> SinkNote | None:
    """The newest note among the ``metadata`` of a sink's committed offsets (each partition keeps the note of the
    transaction that last committed it)."""
    notes = [note for text in metadata if (note := SinkNote.decode(text)) is not None]
    return max(notes, key=lambda note: note.at_ms, default=None)


__all__ = ["FAILING_SHOWN", "HEARTBEAT_S", "KEY", "SinkNote", "latest"]
