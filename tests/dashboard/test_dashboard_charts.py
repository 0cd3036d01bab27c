"""The dashboard's charts in headless Chromium on the real stack, while a flow group, a sink group and a target of
the test's own carry traffic: every chart is drawn with non-empty series for them, the latency chart tells 50 ms
from 500 ms, and the screenshot of a chart shows its line.

The traffic is real Kafka traffic on topics and groups named for this test (so neither the shared stack's flows
and sinks nor other tests see it): records on a data topic that a flow group commits behind, Commands and
CommandResults of a target ``dashchart<run>`` that a sink group commits behind, each result applied 40 ms or
450 ms after its command's source commit, in alternating phases.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dashboard_cdp import CHROMIUM, Page, chromium
from dashboard_support import Dashboard
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from streams.codecs.avro.single_object import SchemaStore
from streams.dashboard.app import DashboardConfig
from streams.dashboard.series import CHARTS
from streams.inspect.roles import AccessPolicy
from streams.sinks.records import COMMAND, COMMAND_RESULT
from streams.sinks.topics import command_topic, results_topic
from streams.stack.running import RunningStack

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard-charts.png"
#: The first colour of charts.js's palette (#1f77b4): a chart's only series is drawn in it.
FIRST_COLOUR = (31, 119, 180)
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} missing: install Debian's chromium (stack/setup.sh does)")


@dataclass(frozen=True)
class Own:
    run: str
    target: str
    data: str
    commands: str
    results: str
    flow_group: str
    sink_group: str


@pytest.fixture
def own(stack: RunningStack) -> Iterator[Own]:
    run = uuid.uuid4().hex[:8]
    target = f"dashchart{run}"
    names = Own(run=run, target=target, data=f"dash-chart-{run}", commands=command_topic(target),
                results=results_topic(target), flow_group=f"dash-chart-flow-{run}",
                sink_group=f"isthmus-sink-{target}")
    admin = KafkaAdminClient(bootstrap_servers=stack.settings.bootstrap_servers)
    topics = [names.data, names.commands, names.results]
    admin.create_topics([NewTopic(t, 1, 1) for t in topics])
    try:
        yield names
    finally:
        admin.delete_groups([names.flow_group, names.sink_group])
        admin.delete_topics(topics)
        admin.close()


class Traffic(threading.Thread):
    """Records, commands and results of the test's own, every 0.3 s until stopped, with the groups committing a
    little behind (so lag is never zero); results land 40 ms after their source commit for 3 s, then 450 ms."""

    def __init__(self, bootstrap: str, own: Own) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.own = bootstrap, own
        self.stop = threading.Event()
        self.store = SchemaStore.from_directory()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc

    def _run(self) -> None:
        own = self.own
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        groups = {own.flow_group: TopicPartition(own.data, 0), own.sink_group: TopicPartition(own.commands, 0)}
        committers = {}
        for group, tp in groups.items():
            committers[group] = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group,
                                              enable_auto_commit=False)
            committers[group].assign([tp])
        sent = {own.data: 0, own.commands: 0}
        started = time.monotonic()
        try:
            while not self.stop.wait(0.3):
                slow = int((time.monotonic() - started) / 3) % 2 == 1
                for n in range(5):
                    producer.send(own.data, key=b"k%d" % n, value=b"record")
                commit = datetime.now(UTC) - timedelta(seconds=1)
                for _ in range(3):
                    command, result = self._pair(commit, applied=commit + timedelta(seconds=0.45 if slow else 0.04))
                    producer.send(own.commands, key=b"C-CHART", value=command)
                    producer.send(own.results, key=b"C-CHART", value=result)
                producer.flush()
                sent[own.data] += 5
                sent[own.commands] += 3
                for group, tp in groups.items():
                    committers[group].commit({tp: OffsetAndMetadata(sent[tp.topic] - 2, "", -1)})
        finally:
            producer.close()
            for consumer in committers.values():
                consumer.close()

    def _pair(self, commit: datetime, *, applied: datetime) -> tuple[bytes, bytes]:
        command_id = str(uuid.uuid4())
        common = {"command_id": command_id, "idempotency_key": f"dash-chart:{command_id}", "target": self.own.target,
                  "operation": "upsert", "entity_type": "isthmus.canonical.Customer", "entity_key": "C-CHART",
                  "payload_type": "isthmus.canonical.Account"}
        command = {**common, "payload": "{}", "changed_fields": [], "created_at": commit,
                   "source": {"system": "crm", "connector": "test", "database": "test", "table": "test",
                              "commit_time": commit},
                   "causation": {"event_id": f"test:{command_id}"}}
        result = {**common, "status": 200, "applied_at": applied, "attempts": 1}
        return self.store.encode(COMMAND, command), self.store.encode(COMMAND_RESULT, result)


def _expected(own: Own) -> dict[str, list[str]]:
    """Per chart, the series the test's traffic must draw."""
    return {"flow-throughput": [own.flow_group], "sink-throughput": [own.sink_group],
            "lag": [own.flow_group, own.sink_group], "topic-throughput": [own.data, own.commands, own.results],
            "target-throughput": [own.target], "latency": [f"{own.target} p50", f"{own.target} p95"]}


def _path(chart: str, series: str) -> str:
    """JavaScript for the <path> of ``series`` in the chart ``chart`` (null when not drawn)."""
    selector = f"svg.chart[data-chart={chart!r}] path.series[data-series={series!r}]"
    return f"document.querySelector({json.dumps(selector)})"


async def _drawn(page: Page) -> dict[str, dict[str, int]]:
    """Per <svg class="chart"> of the page, its series' names and point counts, read from the DOM."""
    found = await page.evaluate(
        "JSON.stringify(Object.fromEntries([...document.querySelectorAll('svg.chart')].map(svg => "
        "[svg.dataset.chart, Object.fromEntries([...svg.querySelectorAll('path.series')].map(p => "
        "[p.dataset.series, Number(p.dataset.points)]))])))")
    return dict(json.loads(found))


async def _colour_pixels(page: Page, png: bytes, colour: tuple[int, int, int]) -> int:
    """Pixels of ``colour`` (give or take anti-aliasing) in a screenshot, decoded by the browser itself."""
    source = json.dumps("data:image/png;base64," + base64.b64encode(png).decode())
    return int(await page.evaluate(
        f"(async () => {{ const img = new Image(); img.src = {source}; await img.decode();"
        " const canvas = document.createElement('canvas'); canvas.width = img.width; canvas.height = img.height;"
        " const context = canvas.getContext('2d'); context.drawImage(img, 0, 0);"
        " const data = context.getImageData(0, 0, img.width, img.height).data; let n = 0;"
        " for (let i = 0; i < data.length; i += 4) {"
        f"   if (Math.abs(data[i] - {colour[0]}) < 40 && Math.abs(data[i + 1] - {colour[1]}) < 40 &&"
        f"       Math.abs(data[i + 2] - {colour[2]}) < 40) n += 1; }}"
        " return n; })()"))


async def _clip(page: Page, selector: str) -> dict[str, Any]:
    box = json.loads(await page.evaluate(
        f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
        " return JSON.stringify({x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width,"
        " height: r.height, scale: 1}); })()"))
    return dict(box)


def test_charts_draw_throughput_lag_and_latency_of_live_traffic(stack: RunningStack, own: Own) -> None:
    bootstrap = stack.settings.bootstrap_servers
    config = DashboardConfig(bootstrap=bootstrap, connect_url=stack.settings.connect_url, policy=AccessPolicy(),
                             interval_s=1.0, targets=(own.target,))
    expected = _expected(own)
    traffic = Traffic(bootstrap, own)

    async def browse(url: str) -> tuple[dict[str, dict[str, int]], list[float], int]:
        async with chromium() as page:
            await page.navigate(url)
            await page.evaluate(f"document.querySelector('#series-match').value = {own.run!r}")
            everything = " && ".join(f"Number({_path(chart, name)}?.dataset.points) >= 3"
                                     for chart, names in expected.items() for name in names)
            await page.wait_for(everything, attempts=450)
            series_url = json.dumps(f"/api/series?match={own.run}")
            p50_of = (f"(async () => (await (await fetch({series_url})).json()).charts"
                      ".find(c => c.id === 'latency').series"
                      f".find(s => s.name === {json.dumps(own.target + ' p50')}).points"
                      ".map(p => p[1]).filter(v => v !== null))()")
            await page.wait_for(f"(async () => {{ const v = await {p50_of}; "
                                "return v.includes(0.05) && v.includes(0.5); })()", attempts=150)
            p50 = [float(v) for v in await page.evaluate(p50_of)]
            drawn = await _drawn(page)
            whole = await page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            ARTIFACT.write_bytes(base64.b64decode(whole["data"]))
            chart = await page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                    clip=await _clip(page, "svg.chart[data-chart='sink-throughput']"))
            line = await _colour_pixels(page, base64.b64decode(chart["data"]), FIRST_COLOUR)
            return drawn, p50, line

    traffic.start()
    try:
        with Dashboard(config) as dashboard:
            drawn, p50, line = asyncio.run(browse(dashboard.url))
    finally:
        traffic.stop.set()
        traffic.join(30)
    assert traffic.failure is None, repr(traffic.failure)
    assert sorted(drawn) == sorted(chart.id for chart in CHARTS)
    for chart, names in expected.items():
        assert set(drawn[chart]) == set(names), (chart, drawn[chart])
        assert all(count >= 3 for count in drawn[chart].values()), (chart, drawn[chart])
    assert 0.05 in p50 and 0.5 in p50 and set(p50) <= {0.05, 0.5}
    assert ARTIFACT.stat().st_size > 10_000
    assert line > 100, f"the sink chart's screenshot shows {line} pixels of its line's colour"
