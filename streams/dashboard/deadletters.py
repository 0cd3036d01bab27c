"""The dashboard's dead letters, read incrementally: each sample reads only the letters written since the last.
A replay read later (a note, a re-derive request, a dead letter of its own) marks the letter it replayed, read
in an earlier sample: the tally keeps every replay by address, so a letter's status and the pending count hold.

Reading the whole dead-letter topic at every sample made one sample take seconds on a stack with a few
thousand letters. The tally keeps, per partition, where it stopped, and folds the new letters into the count,
the count per stage and the newest letters the page lists; it starts over when the topic no longer holds where
it stopped (deleted and made again, letters expired).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaAddress
from streams.sinks import dlq

#: Dead letters the page lists (the newest).
SHOWN = 50


@dataclass
class DeadLetterTally:
    """Every dead letter read so far: how many, how many per stage and still pending, the newest ``shown``."""

    shown: int = SHOWN
    #: Per partition, the next offset to read.
    positions: dict[int, int] = field(default_factory=dict)
    count: int = 0
    by_stage: Counter[str] = field(default_factory=Counter)
    #: Every replay read so far, by the address of the dead letter it replayed.
    marks: list[dlq.Mark] = field(default_factory=list)
    recent: deque[dlq.DeadLetterEntry] = field(init=False)
    #: The consumer kept from one sample to the next (opened at the first, closed on an error and by close).
    _reader: AIOKafkaConsumer | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.shown)

    def add(self, read: dlq.DeadLettersRead) -> None:
        """Fold what was read since :attr:`positions` in (everything again when ``read`` is from the start)."""
        if read.from_start:
            self.count = 0
            self.by_stage.clear()
            self.recent.clear()
            self.marks.clear()
        self.marks.extend(read.marks)
        for entry in read.entries:
            self.count += 1
            self.by_stage[entry.stage] += 1
            self.recent.append(entry)
        self.positions = dict(read.ends)

    def newest(self) -> list[dlq.DeadLetterEntry]:
        """The newest letters, newest first, each with every replay of it read so far."""
        return list(reversed(dlq.with_replays(self.recent, self.marks)))

    @property
    def pending(self) -> int:
        """The letters never replayed, or whose last replay failed again."""
        settled = sum(1 for replays in dlq.replays_by_address(self.marks).values() if replays[-1].settled)
        return self.count - settled

    async def poll(self, bootstrap: KafkaAddress, topic: str, store: SchemaStore) -> None:
        if self._reader is None:
            self._reader = await dlq.open_reader(bootstrap)
        try:
            read = await dlq.read_dead_letters_since(bootstrap, topic, store, self.positions, reader=self._reader)
        except BaseException:
            await self.close()
            raise
        self.add(read)

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()
