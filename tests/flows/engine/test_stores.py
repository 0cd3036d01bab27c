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
    assert store.take_changes() == {"a": {"n": 1}}


def test_changes_hold_the_latest_value_per_key_and_restore_is_not_a_change() -> None:
    store = MemoryStore("s")
    store.restore("old", {"n": 0})
    store.put("k", {"n": 1})
    store.put("k", {"n": 2})
    store.put("old", None)
    assert store.take_changes() == {"k": {"n": 2}, "old": None}
    assert store.take_changes() == {}
    assert dict(store.items()) == {"k": {"n": 2}}
    assert len(store) == 1


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
