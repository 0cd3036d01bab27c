"""A flow's feeders: a relay stage re-keys a topic of another partition count into one of the flow's inputs; a
worker runs it before the flow at any partition count, and LocalRun passes records through it as a worker does."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from streams.flows.engine.api import Context, FlowSpec, Incoming, Store
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import layout, origin_of, relay


class EvenOnly:
    """Passes on the records whose value is an even number, keyed by it."""

    stores: tuple[str, ...] = ()

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> list[tuple[str | None, Incoming]]:
        return [(record.value.decode(), record)] if record.value and int(record.value) % 2 == 0 else []


SEEN: list[Incoming] = []


def _handler(record: Incoming, ctx: Context) -> None:
    del ctx
    SEEN.append(origin_of(record) if record.topic == "probe-wide-by-key" else record)


STAGE, INTO = relay("probe", "wide", EvenOnly(), what="wide")
FED = FlowSpec(name="probe", inputs=("cdc", INTO), handler=_handler, feeders=(STAGE,))


def test_a_relay_reads_its_source_and_writes_the_flows_one_partition_topic() -> None:
    assert (STAGE.name, STAGE.inputs, INTO, STAGE.outputs) == (
        "probe-wide-keying", ("wide",), "probe-wide-by-key", ("probe-wide-by-key",))
    assert STAGE.stores == ()


def test_a_worker_runs_the_feeders_before_their_flow_at_any_partition_count() -> None:
    assert [f.name for f in layout([FED], 1).flows] == ["probe-wide-keying", "probe"]
    keyed = dataclasses.replace(FED, key_by=EvenOnly())
    four = layout([keyed], 4)
    assert [f.name for f in four.flows] == ["probe-wide-keying", "probe-p4-keying", "probe-p4"]
    assert four.flows[2].feeders == ()  # run once, not again with the keyed flow


def test_local_run_passes_a_feeders_records_through_it_as_read_from_their_source() -> None:
    SEEN.clear()
    run = LocalRun(FED)
    records = [run.record("wide", b"k", b"3", partition=2), run.record("wide", b"k", b"4", partition=2),
               run.record("cdc", b"c", b"5")]
    asyncio.run(run.feed(records))
    assert [(r.topic, r.partition, r.offset, r.key, r.value) for r in SEEN] == [
        ("wide", 2, 1, b"k", b"4"), ("cdc", 0, 0, b"c", b"5")]
