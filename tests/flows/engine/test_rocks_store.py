"""The RocksDB state store: the same contract as the in-memory one, changes on disk only once committed, a
checkpoint written with them, and a checkpoint it cannot trust replayed in full."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import rocksdict

from streams.flows.engine.api import FlowSpec, StoreValueError
from streams.flows.engine.rocks import CHECKPOINT_FAMILY, MAX_CHECKPOINT_AGE_S, RocksStore, StateStoreError
from streams.flows.engine.stores import MemoryStore, StateSettings, TaskStore

TOPIC = "flow-s-changelog"


def _rocks(path: Path, *, topic: str = TOPIC, partition: int = 0) -> RocksStore:
    return RocksStore("s", path, topic=topic, partition=partition, cache_mb=8)


@pytest.fixture(params=["memory", "rocksdb"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], TaskStore]]:
    opened: list[TaskStore] = []

    def factory() -> TaskStore:
        store: TaskStore = MemoryStore("s") if request.param == "memory" else _rocks(tmp_path / "s")
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def test_both_stores_keep_the_store_contract(make: Callable[[], TaskStore]) -> None:
    store = make()
    store.restore_batch([("old", b'{"n":0}'), ("gone", b'{"n":9}'), ("gone", None)], 3)
    assert store.position == 3
    assert store.get("old") == {"n": 0} and store.get("gone") is None
    store.put("a", {"n": 1})
    mark = store.mark()
    store.put("a", {"n": 2})
    store.put("b", {"n": 1})
    store.put("old", None)
    store.rollback_to(mark)
    assert store.get("a") == {"n": 1} and store.get("b") is None and store.get("old") == {"n": 0}
    store.put("k", {"b": 1, "a": "é"})
    store.put("k", {"b": 2, "a": "é"})
    store.put("old", None)
    assert store.take_changes() == {"a": b'{"n":1}', "k": '{"a":"é","b":2}'.encode(), "old": None}
    assert store.take_changes() == {}
    assert dict(store.items()) == {"a": {"n": 1}, "k": {"a": "é", "b": 2}}
    assert len(store) == 2
    read = store.get("a")
    assert read is not None
    read["n"] = 5
    assert store.get("a") == {"n": 1}
    with pytest.raises(StoreValueError):
        store.put("a", [1])  # type: ignore[arg-type]
    store.committed(7)
    store.committed(None)
    assert store.position == 7
    assert dict(store.items()) == {"a": {"n": 1}, "k": {"a": "é", "b": 2}}
    assert len(store) == 2


def test_changes_reach_the_disk_only_when_their_transaction_committed(tmp_path: Path) -> None:
    store = _rocks(tmp_path / "s")
    store.restore_batch([("a", b'{"n":0}')], 10)
    store.put("a", {"n": 1})
    store.put("b", {"n": 1})
    assert store.take_changes() == {"a": b'{"n":1}', "b": b'{"n":1}'}
    store.put("b", {"n": 2})  # the next batch, processed while the first one's transaction is in flight
    store.put("c", {"n": 2})
    store.take_changes()
    store.put("a", None)  # the batch in hand
    assert (store.get("a"), store.get("b"), store.get("c")) == (None, {"n": 2}, {"n": 2})
    store.committed(13)  # the first batch: its values and checkpoint on disk, the later changes still seen
    assert (store.get("a"), store.get("b"), store.get("c")) == (None, {"n": 2}, {"n": 2})
    assert len(store) == 2
    store.close()  # the second batch's transaction never committed (a crash): only the first is on disk

    reopened = _rocks(tmp_path / "s")
    assert reopened.position == 13
    assert dict(reopened.items()) == {"a": {"n": 1}, "b": {"n": 1}}
    assert len(reopened) == 2
    reopened.close()


def test_a_checkpoint_round_trips_with_its_values(tmp_path: Path) -> None:
    store = _rocks(tmp_path / "s", partition=3)
    store.restore_batch([(f"k{i}", orjson.dumps({"n": i})) for i in range(100)], 100)
    store.restore_batch([("k1", None), ("k2", b'{"n":-2}')], 104)
    store.close()
    reopened = _rocks(tmp_path / "s", partition=3)
    assert reopened.position == 104
    assert len(reopened) == 99
    assert reopened.get("k1") is None and reopened.get("k2") == {"n": -2} and reopened.get("k99") == {"n": 99}
    reopened.close()


def _write_checkpoint(path: Path, raw: bytes | None, *, data: bool = True) -> None:
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.create_missing_column_families(True)
    db = rocksdict.Rdict(str(path), options, column_families={CHECKPOINT_FAMILY: options})
    meta = db.get_column_family(CHECKPOINT_FAMILY)
    if data:
        db.put(b"stale", b'{"n":1}')
    if raw is not None:
        meta.put(b"checkpoint", raw)
    del meta
    db.close()


def _checkpoint(**fields: object) -> bytes:
    return orjson.dumps({"format": 1, "topic": TOPIC, "partition": 0, "offset": 42, "count": 1,
                         "written_at": time.time(), **fields})


@pytest.mark.parametrize(("raw", "why"), [
    (b"{not json", "cannot be read"),
    (orjson.dumps({"offset": 42}), "cannot be read"),
    (_checkpoint(topic="another-flow-s-changelog"), "is for another-flow-s-changelog/0"),
    (_checkpoint(partition=1), f"is for {TOPIC}/1"),
    (_checkpoint(format=99), "(format 99)"),
    (_checkpoint(offset=-1), "is not an offset"),
    (_checkpoint(written_at=time.time() - MAX_CHECKPOINT_AGE_S - 60), "h old"),
    (None, "holds values but no checkpoint"),
], ids=["corrupt", "incomplete", "other-topic", "other-partition", "other-format", "bad-offset", "too-old",
        "missing"])
def test_a_checkpoint_it_cannot_trust_is_replayed_in_full(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                           raw: bytes | None, why: str) -> None:
    _write_checkpoint(tmp_path / "s", raw)
    with caplog.at_level(logging.WARNING, logger="streams.flows.engine.rocks"):
        store = _rocks(tmp_path / "s")
    assert store.position is None
    assert store.get("stale") is None and len(store) == 0
    assert why in caplog.text and "replayed in full" in caplog.text
    store.close()


def test_a_good_checkpoint_is_trusted(tmp_path: Path) -> None:
    _write_checkpoint(tmp_path / "s", _checkpoint())
    store = _rocks(tmp_path / "s")
    assert store.position == 42 and store.get("stale") == {"n": 1} and len(store) == 1
    store.close()


def test_a_store_in_use_by_another_worker_is_refused_not_wiped(tmp_path: Path) -> None:
    store = _rocks(tmp_path / "s")
    store.restore_batch([("a", b'{"n":1}')], 1)
    with pytest.raises(StateStoreError, match="in use by another process"):
        _rocks(tmp_path / "s")
    assert store.get("a") == {"n": 1}
    store.close()


def test_state_settings_open_a_store_per_flow_store_and_partition(tmp_path: Path) -> None:
    flow = FlowSpec(name="f", inputs=("in",), handler=lambda record, ctx: None, stores=("a", "b"))
    stores = StateSettings(kind="rocksdb", directory=tmp_path, cache_mb=8).open(flow, 2)
    assert sorted(stores) == ["a", "b"]
    assert all(isinstance(s, RocksStore) for s in stores.values())
    assert (tmp_path / "f" / "a" / "2").is_dir() and (tmp_path / "f" / "b" / "2").is_dir()
    for store in stores.values():
        store.close()
    assert all(isinstance(s, MemoryStore) for s in StateSettings().open(flow, 2).values())
