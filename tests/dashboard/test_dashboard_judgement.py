"""The dashboard judges the pipeline as ``isthmus status`` does (:func:`streams.inspect.health.judge`): a trial's
/api/state said ``problems: []`` with 3 dead letters pending, while status exits 3 for them. And its latency row
says since when it counts, so ``applied: 0`` reads as none applied since the dashboard started."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.capture.client import ConnectorState, TaskState
from streams.cli import pipeline
from streams.codecs.avro.single_object import SchemaStore
from streams.dashboard import app, sources
from streams.dashboard.app import DashboardConfig, Sampler
from streams.dashboard.latency import LatencyJoin
from streams.dashboard.metrics import snapshot_metrics
from streams.inspect import health
from streams.inspect.masking import PiiCatalog
from streams.inspect.roles import AccessPolicy
from streams.sinks.dlq import DeadLetterEntry, DeadLettersRead, ReplayMark
from streams.sinks.presence import SinkNote

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()


class _Tail:
    """The latency tail of a dashboard started after every command was applied: nothing joined."""

    def __init__(self) -> None:
        self.join = LatencyJoin(targets=("billing", "shopfloor"))
        self.conflicts: dict[Any, int] = {}

    async def poll(self) -> None:
        pass

    async def close(self) -> None:
        pass


def _sampler(monkeypatch: pytest.MonkeyPatch, *, holds: list[dict[str, Any]] | None = None,
             connectors: list[dict[str, Any]] | None = None,
             captures: dict[str, health.Capture] | None = None,
             consumers: list[str] | None = None, behind: list[str] | None = None) -> Sampler:
    monkeypatch.setattr(sources, "connectors", lambda url, **_: (list(connectors or []), None))
    monkeypatch.setattr(sources, "captures", lambda bootstrap, url, names, **_: {
        name: given for name, given in (captures or {}).items() if name in names})
    monkeypatch.setattr(pipeline, "consumer_problems", lambda kafka: (list(consumers or []), list(behind or [])))
    monkeypatch.setattr(sources, "counts", lambda bootstrap: sources.Counts(topics={}, consumed={}, lag={},
                                                                            lag_by_topic={}))
    monkeypatch.setattr(sources, "latest", lambda bootstrap, topic, *a, **k: list(holds or []) if "holds" in topic
                        else [])
    config = DashboardConfig(bootstrap="127.0.0.1:9092", connect_url="http://127.0.0.1:8083",
                             policy=AccessPolicy(tokens={}))
    sampler = Sampler(config=config, store=STORE, catalog=PiiCatalog.load(STORE.schemas))
    sampler.latency = _Tail()  # type: ignore[assignment]

    async def no_read(*_: Any) -> None:
        pass

    monkeypatch.setattr(sampler.dead_letters, "poll", no_read)
    letters = [DeadLetterEntry(partition=0, offset=o, timestamp_ms=o, letter={"stage": "sink.billing",
                                                                               "reason": "409"}) for o in range(5)]
    replayed = ReplayMark(way="as_stored", where="isthmus.commands.billing[0]@9")
    sampler.dead_letters.add(DeadLettersRead(entries=letters, ends={0: 7}, from_start=True,
                                             marks=(((0, 0), replayed), ((0, 1), replayed))))
    monkeypatch.setattr(app, "_letter_row", lambda entry, store, catalog: {"address": entry.address()})
    return sampler


def test_pending_dead_letters_are_judged_as_status_judges_them(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = _sampler(monkeypatch)
    asyncio.run(sampler.sample())
    state = sampler.snapshot
    assert state["dead_letters_pending"] == 3
    assert state["problems"] == [] and state["pending"] == ["3 in isthmus.dlq"]
    assert state["healthy"] is False
    expected = health.Verdict((), (), ("3 in isthmus.dlq",))
    assert state["verdict"] == expected.line and expected.code == health.EXIT_HELD


def test_held_documents_are_named_per_flow_as_status_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    held = [{"key": "INV-7", "value": {"state": "held", "flow": "billing-invoices", "cause": "waiting_for"}}]
    sampler = _sampler(monkeypatch, holds=held)
    asyncio.run(sampler.sample())
    assert sampler.snapshot["held"] == ["flow billing-invoices holds 1"]
    assert sampler.snapshot["verdict"].startswith("running, but documents are held: flow billing-invoices holds 1")


def test_a_sink_whose_target_fails_is_a_problem_as_status_says_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's dashboard said ``problems: []`` while the billing database had been down 10 min: the sinks' states
    were judged by status only. Now the dashboard reads them as status does (every CONSUMERS_EVERY_S)."""
    said = health.consumer_state(_stalled_sink())[1]
    assert said and said[0].startswith("sink ledgerly runs but applies nothing")
    sampler = _sampler(monkeypatch, consumers=said)
    asyncio.run(sampler.sample())
    assert sampler.snapshot["problems"] == said and sampler.snapshot["healthy"] is False
    assert sampler.snapshot["verdict"] == health.Verdict(tuple(said), (), ("3 in isthmus.dlq",)).line


def _stalled_sink() -> health.Consumer:
    now_ms = 1_800_000_000_000
    note = SinkNote(breaker="open", at_ms=now_ms - 5000, failing="could not connect (MariaDB down or restarting?)")
    base = "isthmus-sink-ledgerly"
    return health.Consumer(kind="sink", name="ledgerly", base=base, lag={base: {"isthmus.commands.ledgerly": 40}},
                           activity=health.Activity(checked_ms=now_ms, stall_s=120, last_commit_ms=now_ms - 20_000,
                                                    oldest_waiting_ms=now_ms - 600_000, note=note))


def test_latency_says_since_when_it_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = _sampler(monkeypatch)
    asyncio.run(sampler.sample())
    since = sampler.latency.join.since.isoformat()  # type: ignore[union-attr]
    assert [(row["target"], row["applied"], row["since"]) for row in sampler.snapshot["latency"]] == [
        ("billing", 0, since), ("shopfloor", 0, since)]


def test_a_stalled_capture_is_judged_as_status_judges_it_and_its_age_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's dashboard showed no problem while a RUNNING connector had read nothing for minutes."""
    running = ConnectorState(name="till-source", type="source", state="RUNNING", worker_id="connect:8083",
                             tasks=(TaskState(id=0, state="RUNNING", worker_id="connect:8083"),))
    stalled = health.Capture(connector="till-source", topic="__debezium-heartbeat.till", interval_s=10.0,
                             checked_ms=200_000, last_ms=70_000)
    sampler = _sampler(monkeypatch, connectors=[running.to_json()], captures={"till-source": stalled})
    asyncio.run(sampler.sample())
    assert sampler.snapshot["problems"] == health.connector_problems([running], {"till-source": stalled})
    assert sampler.snapshot["problems"][0].startswith("connector till-source capture stalled")
    [age] = [m for m in snapshot_metrics(sampler.snapshot) if m.name == "isthmus_capture_age_seconds"]
    assert [(s.labels, s.value) for s in age.samples] == [({"connector": "till-source"}, 130.0)]


def test_the_connectors_signs_of_life_are_read_at_most_every_capture_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read opens a consumer on the connectors' topics: a sample every 2 s reuses the last one for
    ``CAPTURES_EVERY_S``, unless the running connectors changed."""
    running = ConnectorState(name="till-source", type="source", state="RUNNING", worker_id="connect:8083",
                             tasks=(TaskState(id=0, state="RUNNING", worker_id="connect:8083"),))
    alive = health.Capture(connector="till-source", topic="__debezium-heartbeat.till", interval_s=10.0,
                           checked_ms=200_000, last_ms=195_000)
    sampler = _sampler(monkeypatch, connectors=[running.to_json()], captures={"till-source": alive})
    reads: list[list[str]] = []
    monkeypatch.setattr(sources, "captures", lambda bootstrap, url, names, **_: reads.append(list(names)) or {
        "till-source": alive})
    clock = [1000.0]
    monkeypatch.setattr(app.time, "monotonic", lambda: clock[0])
    for step in (0.0, 2.0, app.CAPTURES_EVERY_S - 4.0, 4.0):
        clock[0] += step
        asyncio.run(sampler.sample())
    assert reads == [["till-source"], ["till-source"]]
    assert sampler.snapshot["captures"]["till-source"]["stalled"] is False


def test_a_sink_behind_is_judged_as_status_judges_it(monkeypatch: pytest.MonkeyPatch) -> None:
    said = "sink billing is 25 min behind (its oldest record waiting was written 25 min ago; 900 record(s) waiting)"
    sampler = _sampler(monkeypatch, behind=[said])
    asyncio.run(sampler.sample())
    state = sampler.snapshot
    assert state["problems"] == [] and state["behind"] == [said] and state["healthy"] is False
