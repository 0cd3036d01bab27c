"""The dashboard's dead letters, read incrementally: each sample reads only the letters written since the last.

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
    """Every dead letter read so far: how many, how many per stage, the newest ``shown``."""

    shown: int = SHOWN
    #: Per partition, the next offset to read.
    positions: dict[int, int] = field(default_factory=dict)
    count: int = 0
    by_stage: Counter[str] = field(default_factory=Counter)
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
        for entry in read.entries:
            self.count += 1
            self.by_stage[entry.stage] += 1
            self.recent.append(entry)
        self.positions = dict(read.ends)

    def newest(self) -> list[dlq.DeadLetterEntry]:
        """The newest letters, newest first."""
        return list(reversed(self.recent))

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
