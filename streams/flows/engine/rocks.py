"""A flow's state on disk (RocksDB, through rocksdict): bounded memory, and a restart reads only the
changelog written since the store's checkpoint instead of the whole of it.

One database per store and task, ``<state dir>/<flow>/<store>/<partition>``. Its default column family
holds the committed values (key and value bytes as the changelog carries them); the ``checkpoint`` column
family holds one record: the changelog topic and partition, and the offset the values are at (the next one
to read). Values and checkpoint are written in one ``WriteBatch``, which RocksDB applies atomically, and
only after the Kafka transaction that carried the same changes has committed:

- the changes of the batch in hand and of the batches whose transaction is still in flight stay in memory
  (``_overlay``): an aborted transaction never reaches the disk, so what the disk holds is exactly the state
  at its checkpoint, and a read_committed replay of the changelog from there is the state at the end;
- a crash between the commit and the checkpoint write leaves the previous checkpoint: the replay reads the
  committed batch again, so it is neither lost nor applied twice.

The checkpoint is distrusted (the store is wiped and the changelog replayed from its beginning, logged) when
it is missing from a database that holds values, unreadable, written for another topic or partition, or
older than ``MAX_CHECKPOINT_AGE_S`` (Kafka keeps a compacted topic's tombstones for ``delete.retention.ms``,
one day by default: a replay from an older offset could miss a delete). The engine also replays in full a
checkpoint outside the changelog's offsets (a changelog deleted and made again).

Memory: every store of the process shares one block cache, and their memtables are charged to it (a write
buffer manager), so a worker's state costs about ``cache_mb``, plus the index and bloom filter of each table
file, which stay in memory beside the cache: about 1 % of what is on disk (~20 MiB for a million customers).
Kept inside the cache, a file's index (hundreds of KB for a 64 MiB file) was evicted by the data blocks and
read again for each look-up of a key on disk: ~170 µs a look-up instead of ~15, 12 of the customer worker's
70 CPU-seconds in the initial sync of 20,000 customers.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import rocksdict

from streams.errors import IsthmusError
from streams.flows.engine.api import JsonValue, encode_json
from streams.flows.engine.journal import Journal

log = logging.getLogger(__name__)

#: Bumped when the layout of the database or of the checkpoint changes: another format is replayed in full.
FORMAT = 1
#: A checkpoint older than this is replayed in full (Kafka's default ``delete.retention.ms`` is 24 h).
MAX_CHECKPOINT_AGE_S = 20 * 3600
CHECKPOINT_FAMILY = "checkpoint"
_CHECKPOINT_KEY = b"checkpoint"
_COUNT_KEY = b"count"
_MISSING: Any = object()


class StateStoreError(IsthmusError):
    """A flow's state on disk cannot be opened or written."""


class _Shared:
    """The block cache and write buffer manager every store of the process shares (one memory budget)."""

    def __init__(self, cache_mb: int) -> None:
        self.cache_mb = cache_mb
        self.cache = rocksdict.Cache(cache_mb << 20)
        # Memtables count against the cache: half of it at most, then they are flushed to disk.
        self.buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            (cache_mb << 20) // 2, False, self.cache)


_shared: _Shared | None = None


def _options(cache_mb: int) -> rocksdict.Options:
    global _shared
    if _shared is None or _shared.cache_mb != cache_mb:
        _shared = _Shared(cache_mb)
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.create_missing_column_families(True)
    table = rocksdict.BlockBasedOptions()
    table.set_block_cache(_shared.cache)
    table.set_bloom_filter(10, False)  # a key never seen (a new customer) costs no disk read
    table.set_cache_index_and_filter_blocks(False)  # beside the budget, never read again (module docstring)
    options.set_block_based_table_factory(table)
    options.set_write_buffer_manager(_shared.buffers)
    options.set_write_buffer_size(8 << 20)
    options.set_max_write_buffer_number(2)
    options.set_max_background_jobs(2)
    options.set_keep_log_file_num(2)
    options.set_max_log_file_size(4 << 20)
    return options


def store_path(directory: Path, flow: str, store: str, partition: int) -> Path:
    return directory / flow / store / str(partition)


class RocksStore:
    """A store whose committed values and checkpoint live in RocksDB; uncommitted changes in memory."""

    def __init__(self, name: str, path: Path, *, topic: str, partition: int, cache_mb: int = 64) -> None:
        self.name = name
        self.path = path
        self.topic = topic
        self.partition = partition
        self._cache_mb = cache_mb
        #: Every change not on disk yet: the batches taken whose transaction is in flight, then the one in hand.
        self._overlay: dict[str, bytes | None] = {}
        self._live: dict[str, bytes | None] = {}
        self._taken: list[dict[str, bytes | None]] = []
        #: Undo entries: the key's previous overlay and live values (``_MISSING``: absent), as the protocol says.
        self.journal = Journal()
        #: The changelog offset the disk is at (the next to read); None: read it from the beginning.
        self.position: int | None = None
        self._count = 0
        self._db: rocksdict.Rdict | None = None
        self._meta: rocksdict.Rdict | None = None
        self._meta_handle: rocksdict.ColumnFamily | None = None
        self._open()
        self._load_checkpoint()

    # -- the Store protocol --------------------------------------------------------------------------------

    def get(self, key: str) -> JsonValue | None:
        raw = self.get_raw(key)
        if raw is None:
            return None
        value: JsonValue = orjson.loads(raw)
        return value

    def get_raw(self, key: str) -> bytes | None:
        raw = self._overlay.get(key, _MISSING)
        if raw is _MISSING:
            raw = self._disk.get(key.encode())
        return raw  # type: ignore[no-any-return]

    def put(self, key: str, value: JsonValue | None) -> None:
        self.put_raw(key, encode_json(value))  # raises for a value that is not a JSON object, before any change

    def put_raw(self, key: str, raw: bytes | None) -> None:
        overlay, live = self._overlay, self._live
        self.journal.entries.append((self, key, overlay.get(key, _MISSING), live.get(key, _MISSING)))
        overlay[key] = raw
        live[key] = raw

    def revert(self, key: str, overlay: Any, live: Any) -> None:
        """Undo a ``put_raw``: the key's overlay and live values as they were."""
        for changes, previous in ((self._overlay, overlay), (self._live, live)):
            if previous is _MISSING:
                changes.pop(key, None)
            else:
                changes[key] = previous

    def items(self) -> Iterator[tuple[str, JsonValue]]:
        """Every key and value, as of this call (a snapshot of the disk under a copy of the changes)."""
        overlay = dict(self._overlay)
        snapshot = self._disk.snapshot()

        def generate() -> Iterator[tuple[str, JsonValue]]:
            for raw_key, raw in snapshot.items():
                key = bytes(raw_key).decode()  # type: ignore[arg-type]  # raw mode: keys are bytes
                if key not in overlay:
                    yield key, orjson.loads(raw)
            for key, raw in overlay.items():
                if raw is not None:
                    yield key, orjson.loads(raw)

        return generate()

    def __len__(self) -> int:
        present = self._present([key.encode() for key in self._overlay])
        on_disk = sum(present)
        added = sum(1 for raw in self._overlay.values() if raw is not None)
        return self._count - on_disk + added

    # -- what the engine drives ----------------------------------------------------------------------------

    def mark(self) -> int:
        return self.journal.mark()

    def rollback_to(self, mark: int) -> None:
        self.journal.rollback_to(mark)

    def take_changes(self) -> dict[str, bytes | None]:
        """The batch's changes (latest value per key); they stay visible, in memory, until ``committed``."""
        changes, self._live = self._live, {}
        self.journal.clear()
        self._taken.append(changes)
        return changes

    def committed(self, position: int | None) -> None:
        """The transaction of the oldest changes taken has committed, the store's changelog up to ``position``
        (None: the batch wrote nothing to it): write them and the checkpoint to disk, in one write."""
        changes = self._taken.pop(0)
        if changes:
            assert position is not None, "changes were sent to the changelog"
            self._write(changes.items(), position)
        for key in changes:
            if all(key not in later for later in self._taken) and key not in self._live:
                self._overlay.pop(key, None)

    def restore_batch(self, records: Sequence[tuple[str, bytes | None]], position: int) -> None:
        """Apply changelog records read up to ``position``, with the checkpoint, in one write."""
        self._write(records, position)

    def reset(self) -> None:
        """Forget everything on disk and in memory: a replay from the changelog's beginning follows."""
        self._close_db()
        shutil.rmtree(self.path, ignore_errors=True)
        self._overlay, self._live, self._taken = {}, {}, []
        self.journal.clear()
        self.position = None
        self._count = 0
        self._open()

    def close(self) -> None:
        """Close the database; uncommitted changes are dropped (the changelog never committed them either)."""
        self._close_db()

    # -- disk ----------------------------------------------------------------------------------------------

    @property
    def _disk(self) -> rocksdict.Rdict:
        if self._db is None:
            raise StateStoreError(f"state store {self.name} at {self.path} is closed")
        return self._db

    def _open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        options = _options(self._cache_mb)
        try:
            self._db = rocksdict.Rdict(str(self.path), options, column_families={CHECKPOINT_FAMILY: options})
        except Exception as exc:  # rocksdict raises plain Exception
            if "lock" in str(exc).lower():
                raise StateStoreError(f"state store {self.name} at {self.path} is in use by another process "
                                      f"({exc}); give each worker on this machine its own ISTHMUS_STATE_DIR") from exc
            log.warning("state store %s at %s cannot be opened (%s): wiped, the changelog is replayed in full",
                        self.name, self.path, exc)
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(parents=True, exist_ok=True)
            self._db = rocksdict.Rdict(str(self.path), options, column_families={CHECKPOINT_FAMILY: options})
        self._meta = self._db.get_column_family(CHECKPOINT_FAMILY)
        self._meta_handle = self._db.get_column_family_handle(CHECKPOINT_FAMILY)

    def _close_db(self) -> None:
        if self._db is None:
            return
        self._meta = self._meta_handle = None  # a handle alive keeps the database (and its lock) open
        self._db.close()
        self._db = None

    def _load_checkpoint(self) -> None:
        assert self._meta is not None
        raw = self._meta.get(_CHECKPOINT_KEY)
        if raw is None:
            if next(iter(self._disk.keys()), None) is not None:
                self._distrust("it holds values but no checkpoint")
            return
        try:
            checkpoint = orjson.loads(raw)
            fields = (checkpoint["format"], checkpoint["topic"], checkpoint["partition"], checkpoint["offset"],
                      checkpoint["count"], checkpoint["written_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self._distrust(f"its checkpoint cannot be read ({type(exc).__name__}: {exc})")
            return
        fmt, topic, partition, offset, count, written_at = fields
        if fmt != FORMAT or topic != self.topic or partition != self.partition:
            self._distrust(f"its checkpoint is for {topic}/{partition} (format {fmt}), not {self.topic}/"
                           f"{self.partition} (format {FORMAT})")
        elif not isinstance(offset, int) or offset < 0 or not isinstance(count, int):
            self._distrust(f"its checkpoint offset {offset!r} is not an offset")
        elif time.time() - float(written_at) > MAX_CHECKPOINT_AGE_S:
            self._distrust(f"its checkpoint is {(time.time() - float(written_at)) / 3600:.0f} h old, longer than "
                           "the changelog is sure to keep its deletes")
        else:
            self.position = offset
            self._count = count

    def _distrust(self, why: str) -> None:
        log.warning("state store %s at %s: %s; wiped, the changelog is replayed in full", self.name, self.path, why)
        self.reset()

    def _present(self, keys: list[bytes]) -> list[bool]:
        if not keys:
            return []
        found: list[bytes | None] = self._disk.get(list[Any](keys)) or []
        return [raw is not None for raw in found]

    def _write(self, records: Any, position: int) -> None:
        latest: dict[bytes, bytes | None] = {key.encode(): raw for key, raw in records}
        keys = list(latest)
        count = self._count
        for present, raw in zip(self._present(keys), latest.values(), strict=True):
            count += (raw is not None) - present
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, raw in latest.items():
            if raw is None:
                batch.delete(key)
            else:
                batch.put(key, raw)
        checkpoint = {"format": FORMAT, "topic": self.topic, "partition": self.partition, "offset": position,
                      "count": count, "written_at": time.time()}
        batch.put(_CHECKPOINT_KEY, orjson.dumps(checkpoint), self._meta_handle)
        try:
            self._disk.write(batch)
        except Exception as exc:  # rocksdict raises plain Exception
            raise StateStoreError(f"state store {self.name} at {self.path} cannot be written ({exc}); check the "
                                  "disk (space, permissions) of ISTHMUS_STATE_DIR") from exc
        self.position = position
        self._count = count
