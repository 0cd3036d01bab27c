"""A tick that says it is busy (``Waiting.busy``: more of its work left) is ticked again at the next round, not
after ``tick_interval_s``; one that is not waits the interval."""

from __future__ import annotations

import asyncio

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine import processor as processor_module
from streams.flows.engine.api import Context, FlowSpec, Ticking, Waiting
from streams.flows.engine.processor import EngineSettings, FlowProcessor, _Restored, _Task
from streams.flows.engine.stores import MemoryStore

pytestmark = pytest.mark.unit


def _processor(busy_ticks: int, ticked: list[float]) -> FlowProcessor:
    def tick(ctx: Context, ticking: Ticking) -> Waiting:
        ticked.append(ticking.now_s)
        return Waiting(busy=len(ticked) <= busy_ticks)

    spec = FlowSpec(name="f", inputs=("in",), handler=lambda record, ctx: None, stores=("s",), tick=tick)
    processor = FlowProcessor(spec, EngineSettings(bootstrap_servers="127.0.0.1:1", tick_interval_s=3600.0),
                              SchemaStore.from_directory())
    processor.tasks[0] = _Task(partition=0, restored=_Restored(stores={"s": MemoryStore("s")}), ready=True)
    return processor


@pytest.mark.parametrize("uptime_s", [None, 10.0])
@pytest.mark.parametrize("busy_ticks", [0, 2])
def test_a_busy_tick_is_ticked_again_at_once_until_it_is_not(busy_ticks: int, uptime_s: float | None,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    if uptime_s is not None:  # a machine started less than a tick interval ago: its monotonic clock is that low
        monkeypatch.setattr(processor_module.time, "monotonic", lambda: uptime_s)
    ticked: list[float] = []
    processor = _processor(busy_ticks, ticked)

    async def rounds() -> None:
        for _ in range(5):  # five rounds of the loop within one tick interval
            await processor._tick()

    asyncio.run(rounds())
    assert len(ticked) == 1 + busy_ticks  # the first, then one more per busy one; then the interval holds
    assert processor.waiting.busy is False


def test_waiting_adds_up_busy_across_tasks() -> None:
    assert (Waiting(records=1) + Waiting(busy=True)).busy is True
    assert (Waiting(records=1) + Waiting(records=2)) == Waiting(records=3)
