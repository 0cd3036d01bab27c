"""A system's snapshot, folded as one source transaction in parts and decided once, when it ends.

Debezium's snapshot reads carry no transaction block, so each was a group of its own and decided alone: the row of
a customer made a create without its contacts and addresses, and each of their rows, read later (Debezium reads
one table after another), an update carrying the list so far. Three trials' first syncs paid for it: 2,000
accounts of 12 contacts and a note cost their API 28,000 writes instead of 2,000, and the bytes grew with the
square of a document's lines.

So the reads of one system's initial (or blocking) snapshot are now the parts of one transaction, named
``snapshot:<system>@<its first read>`` (:class:`~streams.flows.customers.txnet.Part`): the flow folds each as it
comes, holds the entities they touch (their canonical records too) and decides each once, when the snapshot ends,
a batch's budget at a time (:mod:`~streams.flows.customers.deferred`). An entity a streamed change decides
meanwhile (another system's change of it, say) is decided then, with all it has; the snapshot's end finds
nothing left to send for it, unless a later read changed it.

A snapshot ends for the flow at the first of:

- a read Debezium marks the snapshot's ``last`` record;
- every table of the system the flow reads having given its ``last_in_data_collection`` read;
- a tick that finds every input topic of the system read to its end and no read of the snapshot produced for
  :data:`QUIET_S` seconds (the snapshot's last table is one the flow does not read, or a table the flow reads is
  empty, so neither mark comes; or the worker restarted meanwhile, and the wait starts again there).

Nothing is held for ever: the last rule needs only the topics read and a quiet while. A mark that comes early (a
table's topic of several partitions, whose other partitions are still unread) makes the reads after it a new
snapshot transaction, decided at its own end: more writes than one, never a lost one. An incremental snapshot's
reads (``snapshot: incremental``, ``isthmus connectors snapshot``) come between streamed changes, in chunks, and
are decided as they come, as are a replayed dead letter's, and every read of a partitioned flow (its keyed tasks
never see the end).

Which snapshot is open is kept in the ``deferred`` store, under ``snapshot:<system>`` (its transaction's name and the
tables that gave their last read), written in the batch's transaction like every store: a restart goes on with it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from streams.codecs import ChangeEvent, Op
from streams.flows.customers.txnet import Group, Part
from streams.flows.engine.api import Incoming, Store, Ticking
from streams.kafka.deadletters import is_replay

log = logging.getLogger(__name__)

#: The prefix of a snapshot transaction's name (and of its marker's key in the ``deferred`` store).
SNAPSHOT_TX = "snapshot:"
#: Seconds without a read of an open snapshot, with its system's topics read to their end, after which a tick
#: ends it (see the module's docstring).
QUIET_S = 10.0
#: Entities of a snapshot's reads kept per chunk of the ``deferred`` store (a read adds its entity to the newest
#: chunk, which is read and written again: ~15 KB at most, a chunk of ~150 bytes an entity).
SNAPSHOT_CHUNK = 100
#: ``source.snapshot`` of the reads of an initial or blocking snapshot.
_SNAPSHOT_READS = frozenset({"true", "first", "first_in_data_collection", "last_in_data_collection", "last"})
_LAST = "last"
_LAST_OF_TABLE = "last_in_data_collection"


class Snapshots:
    """The snapshots of the systems one entity flow reads, each folded as one transaction in parts."""

    def __init__(self, flow: str, tables: Mapping[str, tuple[str, str]], *, quiet_s: float = QUIET_S) -> None:
        """``tables``: the flow's input topics, by the system and table each carries."""
        self.flow = flow
        self.quiet_s = quiet_s
        self._tables = dict(tables)
        self._read: dict[str, frozenset[str]] = {}
        self._topics: dict[str, frozenset[str]] = {}
        for topic, (system, table) in tables.items():
            self._read[system] = self._read.get(system, frozenset()) | {table}
            self._topics[system] = self._topics.get(system, frozenset()) | {topic}
        #: When each system's newest snapshot read was produced (epoch seconds), as this process saw it.
        self._last_read_s: dict[str, float] = {}

    def part(self, record: Incoming, event: ChangeEvent | None, store: Store) -> Group | None:
        """The part of its system's snapshot transaction that ``record`` (decoded as ``event``) is, opening the
        transaction with its first read; None for a record that is no read of an initial or blocking snapshot."""
        if event is None or event.op is not Op.READ or event.source.snapshot not in _SNAPSHOT_READS \
                or is_replay(record.headers):
            return None
        where = self._tables.get(record.topic)
        if where is None:
            return None
        system, table = where
        key = SNAPSHOT_TX + system
        marker = store.get(key)
        opened = marker is None
        if marker is None:
            marker = {"tx": f"{SNAPSHOT_TX}{system}@{record.position}", "done": []}
            log.info("%s: %s's snapshot began (%s): its entities are decided once, when it ends", self.flow,
                     system, record.position)
        self._last_read_s[system] = record.timestamp_ms / 1000
        tx, done = str(marker["tx"]), list(marker["done"])
        mark = event.source.snapshot
        if mark == _LAST_OF_TABLE and table not in done:
            done.append(table)
        ended = mark == _LAST or self._read[system] <= frozenset(done)
        if ended:
            store.put(key, None)
            log.info("%s: %s's snapshot ended (%s, %s): deciding its entities", self.flow, system, record.position,
                     "its last read" if mark == _LAST else "the last read of every table the flow reads")
        elif opened or len(done) != len(marker["done"]):
            store.put(key, {"tx": tx, "done": done})
        return Part((record,), tx=tx, last=ended)

    def quiet(self, ticking: Ticking, store: Store) -> list[Group]:
        """The ends of the open snapshots whose systems' topics the task has read to their end and which gave no
        read for :attr:`quiet_s` (the time of a snapshot open before a restart counts from the first tick)."""
        ended: list[Group] = []
        for system, topics in self._topics.items():
            key = SNAPSHOT_TX + system
            marker = store.get(key)
            if marker is None or not topics <= ticking.read_to_end:
                continue
            since = self._last_read_s.setdefault(system, ticking.now_s)
            if ticking.now_s - since < self.quiet_s:
                continue
            store.put(key, None)
            log.info("%s: %s's snapshot ended (every topic of it read, none for %.0f s): deciding its entities",
                     self.flow, system, ticking.now_s - since)
            ended.append(Part((), tx=str(marker["tx"]), last=True))
        return ended
