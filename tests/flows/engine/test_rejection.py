"""The engine owns failure semantics: a handler that rejects a record (or fails on it) leaves no output, no state
and no counts, and the record is dead-lettered with the reason, the same under LocalRun as in the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected
from streams.flows.engine.local import LocalRun
from streams.flows.engine.processor import EngineSettings, FlowProcessor, _Restored, _Task
from streams.flows.engine.staging import RecordContext, handle_record, start_record
from streams.flows.engine.stores import MemoryStore
from streams.kafka.deadletters import DLQ_TOPIC, STAGE_HEADER


def _record(offset: int, value: bytes, topic: str = "in") -> Incoming:
    return Incoming(topic=topic, partition=0, offset=offset, key=b"k", value=value, timestamp_ms=1)


def half_done(record: Incoming, ctx: Context) -> None:
    """Does all a handler can do for the record, then rejects (``reject``) or fails (``fail``) on it."""
    ctx.stores["seen"].put((record.value or b"").decode(), {"offset": record.offset})
    ctx.emit("out", key="k", value=record.value, headers={"h": b"1"})
    ctx.count("seen")
    if record.value == b"reject":
        raise Rejected("the value says reject", stage="flow.custom-stage")
    if record.value == b"fail":
        raise KeyError("no such thing")


SPEC = FlowSpec(name="half", inputs=("in",), handler=half_done, stores=("seen",), outputs=("out",))


def test_under_local_run_a_rejected_record_leaves_no_output_no_state_and_is_dead_lettered() -> None:
    run = LocalRun(SPEC)
    rejected = run.record("in", b"k", b"reject")
    ctx = asyncio.run(run.feed([rejected, run.record("in", b"k", b"kept")]))
    assert [e.value for e in ctx.emitted] == [b"kept"]
    assert dict(ctx.memory["seen"].items()) == {"kept": {"offset": 1}}
    assert ctx.counts == {"seen": 1}
    (letter,) = ctx.dead_letters
    assert (letter.record, letter.reason, letter.stage, letter.error_type) == (
        rejected, "the value says reject", "flow.custom-stage", "Rejected")


def test_under_local_run_a_handler_that_fails_is_undone_and_dead_lettered_as_the_engine_does() -> None:
    run = LocalRun(SPEC)
    ctx = asyncio.run(run.feed([run.record("in", b"k", b"fail")]))
    assert ctx.emitted == [] and len(ctx.memory["seen"]) == 0 and ctx.counts == {}
    (letter,) = ctx.dead_letters
    assert (letter.reason, letter.stage, letter.error_type) == (
        "KeyError: 'no such thing' (raised at tests/flows/engine/test_rejection.py:32 in half_done)", "flow.half",
        "KeyError")


def test_in_the_engine_a_rejected_record_leaves_no_output_no_changelog_and_one_dead_letter() -> None:
    schemas = SchemaStore.from_directory()
    processor = FlowProcessor(SPEC, EngineSettings(bootstrap_servers="unused:9092", worker_id="w-1"), schemas)
    task = _Task(partition=0, restored=_Restored(stores={name: MemoryStore(name) for name in SPEC.stores}))
    ctx = RecordContext(memory=task.stores, stage=processor.stage)  # as FlowProcessor._process makes it
    for record in (_record(0, b"reject"), _record(1, b"fail")):
        asyncio.run(handle_record(SPEC.handler, record, ctx))

    outgoing = list(processor._outgoing(task, ctx))
    assert {topic for topic, *_ in outgoing} == {DLQ_TOPIC}, "no emitted record and no changelog write is kept"
    assert len(task.stores["seen"]) == 0 and ctx.counts == {}
    letters = [(schemas.decode(value or b"").value, headers) for _, _, _, value, headers in outgoing]
    (rejected, rejected_headers), (failed, _) = letters
    assert (rejected["reason"], rejected["error_type"], rejected["stage"]) == (
        "the value says reject", "Rejected", "flow.custom-stage")
    assert (rejected["topic"], rejected["offset"], rejected["value"]) == ("in", 0, b"reject")
    assert rejected_headers == [(STAGE_HEADER, b"flow.custom-stage")]
    assert (failed["reason"], failed["error_type"], failed["stage"]) == (
        "KeyError: 'no such thing' (raised at tests/flows/engine/test_rejection.py:32 in half_done)", "KeyError",
        "flow.half")


def test_an_isolated_part_that_is_rejected_is_undone_alone_and_the_handler_goes_on() -> None:
    released = _record(7, b"released", topic="parked")

    def handler(record: Incoming, ctx: Context) -> None:
        ctx.stores["seen"].put("outer", {"n": 1})
        ctx.emit("out", key="k", value=b"outer")
        with ctx.isolated(released):
            ctx.stores["seen"].put("inner", {"n": 1})
            ctx.stores["seen"].put("outer", {"n": 2})
            ctx.emit("out", key="k", value=b"inner")
            raise Rejected("the released one is bad")
        ctx.count("went_on")

    run = LocalRun(FlowSpec(name="nested", inputs=("in",), handler=handler, stores=("seen",)))
    ctx = asyncio.run(run.feed([run.record("in", b"k", b"v")]))
    assert dict(ctx.memory["seen"].items()) == {"outer": {"n": 1}}
    assert [e.value for e in ctx.emitted] == [b"outer"] and ctx.counts == {"went_on": 1}
    assert [(d.record, d.reason, d.stage) for d in ctx.dead_letters] == [
        (released, "the released one is bad", "flow.nested")]


def test_rejecting_the_record_in_hand_also_undoes_the_dead_letters_of_its_isolated_parts() -> None:
    """A parked record released by a record that is then rejected stays parked: its dead letter goes too."""
    held = (_record(3, b"a", topic="held"), _record(4, b"b", topic="held"))

    def handler(record: Incoming, ctx: Context) -> None:
        with ctx.isolated(*held):
            raise Rejected("held ones are bad")
        ctx.stores["seen"].put("k", {"n": 1})
        raise Rejected("and so is this one")

    run = LocalRun(FlowSpec(name="nested", inputs=("in",), handler=handler, stores=("seen",)))
    record = run.record("in", b"k", b"v")
    ctx = asyncio.run(run.feed([record]))
    assert [(d.record, d.reason) for d in ctx.dead_letters] == [(record, "and so is this one")]
    assert len(ctx.memory["seen"]) == 0


def test_a_rejection_names_the_records_it_rejects() -> None:
    held = (_record(3, b"a", topic="held"), _record(4, b"b", topic="held"))

    def handler(record: Incoming, ctx: Context) -> None:
        with ctx.isolated(record):
            raise Rejected("the transaction is incomplete", records=held)
        ctx.emit("out", key="k", value=b"went on")

    run = LocalRun(FlowSpec(name="tx", inputs=("in",), handler=handler))
    ctx = asyncio.run(run.feed([run.record("in", b"k", b"v")]))
    assert [d.record for d in ctx.dead_letters] == list(held)
    assert [e.value for e in ctx.emitted] == [b"went on"]


def test_a_handler_that_returns_an_awaitable_is_finished_in_its_scope_and_undone_when_it_fails() -> None:
    """The engine runs a handler without a coroutine of its own (``start_record``); one that returns an awaitable
    gets its work kept or undone and dead-lettered only once that is awaited, as under ``handle_record``."""

    async def later(record: Incoming, ctx: Context) -> None:
        await asyncio.sleep(0)
        if record.value != b"kept":
            raise ValueError("bad later")

    def handler(record: Incoming, ctx: Context) -> Awaitable[None]:
        half_done(record, ctx)  # the record's work so far, kept or undone with what the awaitable does
        return later(record, ctx)

    async def run_all() -> RecordContext:
        ctx = RecordContext(memory={"seen": MemoryStore("seen")}, stage="flow.later")
        for offset, value in enumerate((b"fail-later", b"kept")):
            pending = start_record(handler, _record(offset, value), ctx)
            assert pending is not None, "the awaitable is handed back, not dropped"
            await pending
        return ctx

    ctx = asyncio.run(run_all())
    assert [e.value for e in ctx.emitted] == [b"kept"] and dict(ctx.memory["seen"].items()) == {"kept": {"offset": 1}}
    (letter,) = ctx.dead_letters
    assert (letter.record.value, letter.reason, letter.error_type) == (
        b"fail-later", "ValueError: bad later (raised at tests/flows/engine/test_rejection.py:141 in later)",
        "ValueError")


def test_a_cancelled_handler_is_undone_and_the_cancellation_goes_on_up() -> None:
    """Not an ``Exception``: the record is not dead-lettered (it is read again after the restart), and its work
    is undone."""

    def handler(record: Incoming, ctx: Context) -> None:
        half_done(record, ctx)
        raise asyncio.CancelledError

    ctx = RecordContext(memory={"seen": MemoryStore("seen")})
    with pytest.raises(asyncio.CancelledError):
        start_record(handler, _record(0, b"v"), ctx)
    assert ctx.emitted == [] and len(ctx.memory["seen"]) == 0 and ctx.counts == {} and ctx.dead_letters == []
