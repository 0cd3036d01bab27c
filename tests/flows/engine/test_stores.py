import datetime as dt
import tracemalloc

import pytest

from streams.flows.engine.api import StoreValueError
from streams.flows.engine.stores import MemoryStore


def test_rollback_to_a_mark_undoes_only_later_puts() -> None:
    store = MemoryStore("s")
    store.put("a", {"n": 1})
    mark = store.mark()
    store.put("a", {"n": 2})
    store.put("b", {"n": 1})
    store.put("a", None)
    store.rollback_to(mark)
    assert store.get("a") == {"n": 1}
    assert store.get("b") is None
    assert store.take_changes() == {"a": b'{"n":1}'}


def test_changes_hold_the_latest_value_per_key_and_restore_is_not_a_change() -> None:
    store = MemoryStore("s")
    store.restore("old", b'{"n":0}')
    assert store.get("old") == {"n": 0}
    store.put("k", {"n": 1})
    store.put("k", {"n": 2})
    store.put("old", None)
    assert store.take_changes() == {"k": b'{"n":2}', "old": None}
    assert store.take_changes() == {}
    assert dict(store.items()) == {"k": {"n": 2}}
    assert len(store) == 1


def test_a_value_read_is_a_copy_and_counts_only_when_put_back() -> None:
    store = MemoryStore("s")
    store.put("k", {"n": 1, "tags": ["a"]})
    mark = store.mark()
    read = store.get("k")
    assert read is not None
    read["tags"].append("b")
    assert store.get("k") == {"n": 1, "tags": ["a"]}
    read["n"] = 2
    store.put("k", read)
    store.rollback_to(mark)
    assert store.get("k") == {"n": 1, "tags": ["a"]}


def test_values_are_kept_as_their_changelog_bytes_with_sorted_keys() -> None:
    store = MemoryStore("s")
    store.put("k", {"b": 1, "a": "é", 3: True})
    assert store.take_changes() == {"k": '{"3":true,"a":"é","b":1}'.encode()}
    assert store.get("k") == {"3": True, "a": "é", "b": 1}


def test_a_value_that_is_not_a_json_object_is_refused_before_anything_changes() -> None:
    store = MemoryStore("s")
    for bad in ([1, 2], {"at": dt.datetime(2026, 1, 1)}, {"n": 2**70}):
        with pytest.raises(StoreValueError):
            store.put("k", bad)  # type: ignore[arg-type]
    assert store.get("k") is None
    assert store.take_changes() == {}


def test_a_handler_counts_its_events() -> None:
    import asyncio

    from streams.flows.engine.api import Context, FlowSpec, Incoming
    from streams.flows.engine.local import LocalRun

    def handler(record: Incoming, ctx: Context) -> None:
        ctx.count("seen")
        if record.value == b"echo":
            ctx.count("echoes_suppressed")

    run = LocalRun(FlowSpec(name="counting", inputs=("t",), handler=handler))
    context = asyncio.run(run.feed([run.record("t", b"k", b"echo"), run.record("t", b"k", b"new")]))
    assert context.counts == {"seen": 2, "echoes_suppressed": 1}


def test_a_small_value_takes_little_memory() -> None:
    """The store keeps a million keys in a worker: a value's bytes must not carry the encoder's buffer
    (orjson's own bytes hold about 4 KiB each; the store's are a copy of the value's length)."""
    store = MemoryStore("s")
    tracemalloc.start()
    try:
        for i in range(10_000):
            store.put(f"k{i}", {"n": i, "name": "x"})
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held / 10_000 < 400, f"{held / 10_000:.0f} bytes a key"
