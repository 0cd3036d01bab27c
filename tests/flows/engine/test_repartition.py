"""The keying stage's envelope and the layout a worker runs for a partition count."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace

import pytest

from streams.flows.engine.api import Context, FlowSpec, Incoming, Store
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import RepartitionError, layout, origin_of, partitioned


class FirstByte:
    """Keys each record by its value's first character."""

    stores: tuple[str, ...] = ()

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> list[tuple[str | None, Incoming]]:
        return [(None if not record.value else record.value[:1].decode(), record)]


SEEN: list[Incoming] = []


def _handler(record: Incoming, ctx: Context) -> None:
    del ctx
    SEEN.append(record)


KEYED = FlowSpec(name="probe", inputs=("in.a", "in.b"), handler=_handler, stores=("s",), key_by=FirstByte())
PLAIN = FlowSpec(name="plain", inputs=("in.c",), handler=_handler)


def test_the_keyed_flow_sees_each_record_as_read_from_its_source_topic() -> None:
    laid = partitioned(KEYED, 3)
    assert (laid.stage.name, laid.topic.name, laid.topic.partitions) == ("probe-p3-keying", "probe-p3-by-key", 3)
    assert laid.stage.inputs == ("in.a", "in.b") and laid.flow.inputs == ("probe-p3-by-key",)
    assert laid.flow.stores == ("s",) and laid.flow.name == "probe-p3"
    original = Incoming(topic="in.b", partition=0, offset=41, key=b'{"id":7}', value=b"x-value", timestamp_ms=1234,
                        headers=(("trace", b"t1"),))
    stage = LocalRun(laid.stage)
    asyncio.run(stage.feed([original]))
    (out,) = stage.context.emitted
    assert (out.topic, out.key, out.value) == ("probe-p3-by-key", b"x", b"x-value")
    SEEN.clear()
    flow = LocalRun(laid.flow)
    asyncio.run(flow.feed([Incoming(topic=out.topic, partition=2, offset=9, key=out.key, value=out.value,
                                    timestamp_ms=9999, headers=out.headers)]))
    assert [original] == SEEN


def test_a_record_without_the_origin_header_is_refused_by_name() -> None:
    with pytest.raises(RepartitionError, match=r"isthmus\.origin"):
        origin_of(Incoming(topic="probe-p3-by-key", partition=0, offset=0, key=b"k", value=b"v", timestamp_ms=0))


def test_layout_keeps_one_partition_as_it_is_and_splits_only_flows_with_a_key() -> None:
    one = layout([KEYED, PLAIN], 1)
    # the flow with a key only runs the history of another layout of it apart (streams/flows/engine/history.py)
    assert (one.flows, one.topics, one.stateful_stages) == ([replace(KEYED, handler=one.flows[0].handler,
                                                                     read_first=one.flows[0].read_first), PLAIN],
                                                            [], [])
    assert [(h.marks.layout, h.partitions, h.inputs) for h in one.histories] == [("probe", 1, ("in.a", "in.b"))]
    four = layout([KEYED, PLAIN], 4)
    assert [f.name for f in four.flows] == ["probe-p4-keying", "probe-p4", "plain"]
    assert [(t.name, t.partitions) for t in four.topics] == [("probe-p4-by-key", 4), ("probe-p4-s-changelog", 4)]
    assert four.topics[1].config == (("cleanup.policy", "compact"),)
    assert four.stateful_stages == []  # FirstByte keeps no state
    assert [(h.marks.layout, h.partitions, h.inputs) for h in four.histories] == [("probe-p4", 4, ("in.a", "in.b"))]


@pytest.mark.parametrize("partitions", [0, 1, 65])
def test_partition_counts_out_of_range_are_refused(partitions: int) -> None:
    with pytest.raises(RepartitionError, match="partitions"):
        partitioned(KEYED, partitions)


def test_a_flow_without_a_key_cannot_be_partitioned() -> None:
    with pytest.raises(RepartitionError, match="key_by"):
        partitioned(PLAIN, 3)
