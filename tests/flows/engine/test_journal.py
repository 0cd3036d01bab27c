"""One undo journal per context (:mod:`streams.flows.engine.journal`): the stores and object views of a context
write into it, scopes mark it and roll it back, in the order the writes were made whichever store made them."""

from __future__ import annotations

import pytest
from support.object_codecs import CounterCodec

from streams.flows.engine.api import Incoming, Rejected
from streams.flows.engine.journal import Journal
from streams.flows.engine.packed import unpack
from streams.flows.engine.staging import RecordContext
from streams.flows.engine.stores import MemoryStore


def _record(offset: int) -> Incoming:
    return Incoming(topic="in", partition=0, offset=offset, key=None, value=b"x", timestamp_ms=0)


def _context() -> tuple[RecordContext, MemoryStore, MemoryStore]:
    a, b = MemoryStore("a"), MemoryStore("b")
    a.put("kept", {"n": 0})
    a.take_changes()
    return RecordContext(memory={"a": a, "b": b, "view": MemoryStore("view")}), a, b


def test_a_context_gives_its_stores_and_views_one_journal() -> None:
    ctx, a, b = _context()
    view = ctx.objects("view", CounterCodec())
    assert a.journal is b.journal is ctx.journal is view.journal
    a.put("x", {"n": 1})
    b.put("y", {"n": 1})
    view.put("z", {"n": 1})
    assert [(owner, key) for owner, key, _, _ in ctx.journal.entries] == [(a, "x"), (b, "y"), (view, "z")]
    assert a.mark() == b.mark() == 3  # a mark is the journal's length, whichever store is asked


def test_nested_scopes_are_undone_in_order_across_two_stores_and_a_view() -> None:
    ctx, a, b = _context()
    view = ctx.objects("view", CounterCodec())
    with pytest.raises(RuntimeError), ctx.isolated(_record(0)):
        a.put("k", {"n": 1})
        view.put("v", {"n": 1})
        with ctx.isolated(_record(1)):
            b.put("k", {"n": 1})
            a.put("k", {"n": 2})  # the same key again, in the inner scope
            value = view.get("v")
            value["n"] = 2
            view.put("v", value)
            with ctx.isolated(_record(2)):
                a.put("kept", None)
                b.put("k", {"n": 2})
                raise RuntimeError("a bug")
    assert ctx.journal.entries == []
    assert a.get("k") is None and a.get("kept") == {"n": 0} and b.get("k") is None
    assert view.dirty() == [] and view.get("v") == {}
    assert a.take_changes() == {} and b.take_changes() == {}


def test_a_rejection_in_an_inner_scope_keeps_the_outer_scopes_writes() -> None:
    ctx, a, b = _context()
    view = ctx.objects("view", CounterCodec())
    with ctx.isolated(_record(0)):
        a.put("k", {"n": 1})
        value = view.get("v")
        value["n"] = 1
        view.put("v", value)
        with ctx.isolated(_record(1)):
            a.put("k", {"n": 2})
            b.put("j", {"n": 2})
            value = view.get("v")
            value["n"] = 2
            view.put("v", value)
            ctx.emit("out", key="k", value=b"inner")
            raise Rejected("no")
        b.put("after", {"n": 1})
        ctx.emit("out", key="k", value=b"outer")
    assert [letter.record.offset for letter in ctx.dead_letters] == [1]
    assert [e.value for e in ctx.emitted] == [b"outer"]
    assert a.get("k") == {"n": 1} and b.get("j") is None and b.get("after") == {"n": 1}
    assert view.get("v") == {"n": 1}
    ctx.flush()
    assert {k: unpack(v or b"") for k, v in ctx.memory["view"].take_changes().items()} == {"v": {"n": 1}}


def test_take_changes_after_a_rollback_lists_only_the_surviving_keys() -> None:
    ctx, a, b = _context()
    with ctx.isolated(_record(0)):
        a.put("before", {"n": 1})
        a.put("both", {"n": 1})
    with ctx.isolated(_record(1)):
        a.put("both", {"n": 2})  # changed before the rollback's mark: its earlier change survives
        a.put("after", {"n": 1})
        a.put("kept", None)  # a delete of a key changed in no earlier batch-change: undone, not listed
        b.put("after", {"n": 1})
        raise Rejected("no")
    assert a.take_changes() == {"before": b'{"n":1}', "both": b'{"n":1}'}
    assert b.take_changes() == {}
    assert ctx.journal.entries == []  # taking the changes ends the batch


def test_a_store_on_its_own_has_a_journal_of_its_own() -> None:
    one, two = MemoryStore("one"), MemoryStore("two")
    assert isinstance(one.journal, Journal) and one.journal is not two.journal
    two.put("k", {"n": 1})
    mark = one.mark()
    one.put("k", {"n": 1})
    one.rollback_to(mark)
    assert one.get("k") is None and two.get("k") == {"n": 1}
