"""The schemas the engine writes with, recorded in ``isthmus.schemas`` on the real broker: an edit in place without a
history copy (a decimal (10, 2) made (14, 4)) is refused where a worker starts (``written_schemas.attach``), and a
field added without one leaves the records written before readable, through the recorded schema.

Under a topic prefix of its own, so its ``isthmus.schemas`` holds only what this test writes."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from support.topics import values_to_end
from support.waiting import eventually_async

from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import SchemaLoadError
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.kafka import names, written_schemas
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.stack.running import RunningStack

PLOT = "land.canonical.Plot"


def _plot(precision: int, scale: int, *extra: dict[str, Any]) -> dict[str, Any]:
    lease = {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
    return {"type": "record", "name": "Plot", "namespace": "land.canonical", "fields": [
        {"name": "plot_code", "type": "string"}, {"name": "lease_value", "type": ["null", lease], "default": None},
        *extra]}


def _store(folder: Path, schema: dict[str, Any]) -> SchemaStore:
    folder.mkdir(parents=True)
    (folder / "plot.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return SchemaStore(load_schemas(folder))


async def _write_plots(bootstrap: str, store: SchemaStore, run: str) -> str:
    """A flow that publishes a Plot per input record, run until two are committed; returns its output topic."""
    source, published = names.topic(f"plots-in-{run}"), names.topic(f"plots-{run}")
    await ensure_topics(bootstrap, [TopicSpec(name=source, partitions=1)])

    def handle(record: Incoming, ctx: Context) -> None:
        ctx.emit(published, key=record.key, value=store.encode(
            PLOT, {"plot_code": (record.key or b"").decode(), "lease_value": Decimal("6353807.72")}))

    spec = FlowSpec(name=f"plots-{run}", inputs=(source,), outputs=(published,), handler=handle)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key in (b"P-1", b"P-2"):
            await producer.send_and_wait(source, key=key, value=b"x")
    finally:
        await producer.stop()
    processor = FlowProcessor(spec, EngineSettings(bootstrap_servers=bootstrap, worker_id="schemas-test"), store)
    stop = asyncio.Event()
    running = asyncio.create_task(processor.run(stop))
    try:
        async def committed() -> bool:
            if running.done():
                running.result()
            return processor.processed >= 2 and not processor._lock.locked()

        await eventually_async("two plots committed", committed, timeout=60, every=0.1)
    finally:
        stop.set()
        await running
    return published


def test_written_schemas_catch_an_edit_in_place_and_read_what_no_file_has(
        stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = stack.settings.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    monkeypatch.setenv(names.TOPIC_PREFIX_ENV, f"schemas-{run}.")
    writer = _store(tmp_path / "v1", _plot(10, 2))
    published = asyncio.run(_write_plots(bootstrap, writer, run))

    (recorded,) = written_schemas.read_written(bootstrap)  # once, though two records were written
    assert recorded.name == PLOT and recorded.fingerprint == writer.current(PLOT).fingerprint
    assert recorded.schema == writer.current(PLOT).schema  # the logical type, precision and scale kept
    assert writer.unrecorded() == ()

    edited = _store(tmp_path / "edited", _plot(14, 4))
    with pytest.raises(SchemaLoadError, match=r"\(written before, .*lease_value is decimal\(14, 4\) in the first "
                                              r"and decimal\(10, 2\) in the second"):
        written_schemas.attach(edited, bootstrap)

    grown = _store(tmp_path / "grown", _plot(10, 2, {"name": "zone", "type": ["null", "string"], "default": None}))
    written_schemas.attach(grown, bootstrap)
    values = values_to_end(bootstrap, published)
    assert [grown.decode(v or b"").value for v in values] == [
        {"plot_code": code, "lease_value": Decimal("6353807.72"), "zone": None} for code in ("P-1", "P-2")]
