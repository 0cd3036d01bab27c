"""A replay of a dead letter is addressed to the stage that dead-lettered it: every flow reading the topic reads
the copy, only that stage's flow uses it (streams/flows/engine/addressing.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime

from streams.flows.engine.addressing import SKIPPED, family, stages_of
from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected, Store
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import origin_of, partitioned, relay
from streams.kafka.deadletters import REPLAY_HEADER, Original, dead_letter_value, replay_stage, replayed_headers

TOPIC = "erp.shop.customers"
SEEN: dict[str, list[Incoming]] = {}


class FirstByte:
    """Keys each record by its value's first character."""

    stores: tuple[str, ...] = ()

    def route(self, record: Incoming, stores: Mapping[str, Store]) -> list[tuple[str | None, Incoming]]:
        return [(None if not record.value else record.value[:1].decode(), record)]


def _seeing(name: str, *, refuse: bytes | None = None) -> FlowSpec:
    def handler(record: Incoming, ctx: Context) -> None:
        if record.value == refuse and REPLAY_HEADER not in dict(record.headers):
            raise Rejected("refused the first time")
        SEEN.setdefault(name, []).append(origin_of(record) if record.topic.endswith("-by-key") else record)

    return FlowSpec(name=name, inputs=(TOPIC,), handler=handler)


def _letter(record: Incoming, stage: str) -> dict[str, object]:
    original = Original(topic=record.topic, partition=record.partition, offset=record.offset,
                        timestamp_ms=record.timestamp_ms, key=record.key, value=record.value, headers=record.headers)
    return dead_letter_value(original, reason="refused", error_type="Rejected", stage=stage, attempts=1,
                             worker="w1")


def _replay(run: LocalRun, letter: Mapping[str, object]) -> Incoming:
    headers = replayed_headers(letter, "isthmus.dlq", 0, 12, datetime(2026, 1, 1, tzinfo=UTC))
    return run.record(TOPIC, b"k", b"v2", headers=tuple(headers))


def test_a_replay_is_used_by_the_flow_that_dead_lettered_it_and_skipped_by_another_reader() -> None:
    SEEN.clear()
    a, b = LocalRun(_seeing("a", refuse=b"v2")), LocalRun(_seeing("b"))
    original = a.record(TOPIC, b"k", b"v2")
    asyncio.run(a.feed([original]))
    asyncio.run(b.feed([b.record(TOPIC, b"k", b"v2")]))
    (dead,) = a.context.dead_letters
    assert dead.stage == "flow.a" and "a" not in SEEN and len(SEEN["b"]) == 1
    letter = _letter(dead.record, dead.stage)  # the stage as the engine writes it into the dead letter
    replay = _replay(a, letter)
    assert replay_stage(replay.headers) == "flow.a"
    asyncio.run(a.feed([replay]))
    asyncio.run(b.feed([replay]))
    assert [r.value for r in SEEN["a"]] == [b"v2"] and len(SEEN["b"]) == 1  # b used the original long ago
    assert a.context.counts[SKIPPED] == 0 and b.context.counts[SKIPPED] == 1


def test_a_replay_whose_header_names_no_stage_is_every_readers() -> None:
    SEEN.clear()
    a, b = LocalRun(_seeing("a")), LocalRun(_seeing("b"))
    old = ((REPLAY_HEADER, b'{"dlq_topic": "isthmus.dlq", "dlq_partition": 0, "dlq_offset": 12, '
                           b'"replayed_at": "2025-01-01T00:00:00+00:00"}'),)
    assert replay_stage(old) is None
    asyncio.run(a.feed([a.record(TOPIC, b"k", b"v", headers=old)]))
    asyncio.run(b.feed([b.record(TOPIC, b"k", b"v", headers=old)]))
    assert len(SEEN["a"]) == len(SEEN["b"]) == 1
    assert a.context.counts[SKIPPED] == b.context.counts[SKIPPED] == 0


def test_the_keying_stage_passes_a_replay_addressed_to_its_flow_on_with_its_header() -> None:
    SEEN.clear()
    laid = partitioned(dataclasses.replace(_seeing("probe"), key_by=FirstByte()), 3)
    stage, flow = LocalRun(laid.stage), LocalRun(laid.flow)
    # what the flow's dead letters record: its handler's rejections, the keyed flow's failures, the keying stage's,
    # of this layout or another (N changed)
    for addressed in ("flow.probe", "flow.probe-p3", "flow.probe-p3-keying", "flow.probe-p5-keying"):
        replay = _replay(stage, _letter(stage.record(TOPIC, b"k", b"v"), addressed))
        asyncio.run(stage.feed([replay]))
        out = stage.context.emitted[-1]
        assert out.topic == laid.topic.name and dict(out.headers)[REPLAY_HEADER] == dict(replay.headers)[REPLAY_HEADER]
        asyncio.run(flow.feed([flow.record(out.topic, out.key, out.value, headers=tuple(out.headers))]))
        assert SEEN["probe"][-1].headers == replay.headers
    assert len(stage.context.emitted) == len(SEEN["probe"]) == 4
    other = _replay(stage, _letter(stage.record(TOPIC, b"k", b"v"), "flow.orders"))
    asyncio.run(stage.feed([other]))
    assert len(stage.context.emitted) == 4 and stage.context.counts[SKIPPED] == 1


def test_a_relay_passes_a_replay_addressed_to_the_flow_it_feeds_on() -> None:
    SEEN.clear()
    feeder, into = relay("probe", "results", FirstByte(), what="results")
    spec = FlowSpec(name="probe", inputs=(TOPIC, into), handler=_seeing("probe").handler, feeders=(feeder,))
    run = LocalRun(spec)
    for addressed in ("flow.probe", "flow.probe-results-keying", "flow.other"):
        letter = _letter(run.record("results", b"k", b"r"), addressed)
        headers = replayed_headers(letter, "isthmus.dlq", 0, 12, datetime(2026, 1, 1, tzinfo=UTC))
        asyncio.run(run.feed([run.record("results", b"k", b"r", headers=tuple(headers))]))
    assert [replay_stage(r.headers) for r in SEEN["probe"]] == ["flow.probe", "flow.probe-results-keying"]
    assert run.feeders[0].context.counts[SKIPPED] == 1


def test_stages_are_compared_without_the_partition_count() -> None:
    assert family("flow.customers-p3-keying") == "flow.customers-keying"
    assert family("flow.customers-p12") == "flow.customers" and family("sink.erp") == "sink.erp"
    keyed = dataclasses.replace(_seeing("customers"), key_by=FirstByte())
    assert stages_of(keyed) == {"flow.customers", "flow.customers-keying"}
    laid = partitioned(keyed, 4)
    assert stages_of(laid.stage) == stages_of(laid.flow) == stages_of(keyed)
