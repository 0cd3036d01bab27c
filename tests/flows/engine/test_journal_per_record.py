"""The undo journal lets go of a record's entries once the record is handled from the top (``RecordContext.handled``:
no scope spans two records); a later record's scopes still undo all of their own work, object views included."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected
from streams.flows.engine.local import LocalRun


class _Box:
    def __init__(self, items: list[str]) -> None:
        self.items = items


class _BoxCodec:
    """Boxes changed in place (an entity's way): a scope's first get of a changed one saves a copy."""

    def decode(self, key: str, raw: bytes | None) -> _Box:
        return _Box([] if raw is None else raw.decode().split(",") if raw else [])

    def encode(self, key: str, value: _Box) -> bytes | None:
        return ",".join(value.items).encode()

    def copy(self, value: _Box) -> _Box:
        return _Box(list(value.items))


journal_lengths: list[int] = []


def boxes(record: Incoming, ctx: Context) -> None:
    view = ctx.objects("boxes", _BoxCodec())
    with ctx.isolated():
        box = view.get("b")
        box.items.append((record.value or b"").decode())
        view.put("b", box)
        ctx.stores["seen"].put(str(record.offset), {"v": (record.value or b"").decode()})
        journal_lengths.append(len(ctx.journal.entries))  # type: ignore[attr-defined]
        if record.value == b"reject":
            raise Rejected("rejected after changing the box")


SPEC = FlowSpec(name="boxes", inputs=("in",), handler=boxes, stores=("boxes", "seen"), outputs=())


def test_a_record_handled_leaves_no_journal_entries_and_a_later_rejection_still_undoes_its_own_work() -> None:
    journal_lengths.clear()
    run = LocalRun(SPEC, flush_each_feed=False)
    ctx: Any = asyncio.run(run.feed([run.record("in", b"k", b"a"), run.record("in", b"k", b"b"),
                                     run.record("in", b"k", b"reject"), run.record("in", b"k", b"c")]))
    assert ctx.journal.entries == []  # every record's entries let go of once it was handled
    assert all(n <= 4 for n in journal_lengths)  # the entries of one record at most, not the batch's
    (letter,) = ctx.dead_letters
    assert letter.reason == "rejected after changing the box"
    run.end_batch()
    assert ctx.memory["boxes"].get_raw("b") == b"a,b,c"  # the rejected record's append undone, in place as it was
    assert sorted(k for k, _ in ctx.memory["seen"].items()) == ["0", "1", "3"]
