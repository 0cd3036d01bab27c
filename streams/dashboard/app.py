"""The dashboard's web app: one page, a JSON API it polls every 2 s, /metrics, login, and the replay action.

A :class:`Sampler` reads every figure once per interval in the background, so any number of open pages
costs the services nothing more; rates are per second between two samples, and each sample is also kept in
bounded series for the charts (:mod:`streams.dashboard.series`). Actions and look-ups are read on demand.
Roles (:mod:`streams.inspect.roles`): a viewer looks, an operator may also replay dead letters,
an admin may also see personal data; a refusal is HTTP 403 with the reason, and is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiokafka.errors import KafkaError
from kafka.errors import KafkaError as AdminError

from streams.capture.client import ConnectorState, TaskState
from streams.cli import pipeline
from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaAddress, kafka_settings
from streams.dashboard import sources
from streams.dashboard.access import COOKIE, caller_of
from streams.dashboard.deadletters import DeadLetterTally
from streams.dashboard.exceptions import BadRequest
from streams.dashboard.latency import LatencyJoin, LatencyTail
from streams.dashboard.metrics import dashboard_registry
from streams.dashboard.rates import RateTracker
from streams.dashboard.series import SHOWN_SERIES, History
from streams.errors import IsthmusError
from streams.flows.customers.rederive import load_entity_flows, replay_ways
from streams.flows.topics import AUDIT_CONFLICTS, CUSTOMER_360, HOLDS, dlq_topic
from streams.flows.topics import topic as own_topic
from streams.inspect import health
from streams.inspect.decoding import letter_entity
from streams.inspect.exceptions import AccessDenied
from streams.inspect.masking import PiiCatalog
from streams.inspect.roles import AccessPolicy, Caller, Permission
from streams.metrics.serving import metrics_response
from streams.sinks import dlq

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
#: Dead letters and conflicts the page lists (the newest).
SHOWN = 50
#: Seconds between two reads of the flows' and sinks' states (groups, lag, the sinks' transactions and notes: more
#: than a sample reads), judged as ``isthmus status`` judges them.
CONSUMERS_EVERY_S = 15.0
#: Seconds between two reads of the connectors' signs of life (their heartbeat and change topics' last offsets): a
#: stall is judged over minutes, and each read opens a consumer, so a sample every 2 s reuses the last one.
CAPTURES_EVERY_S = 30.0


@dataclass(frozen=True, kw_only=True)
class DashboardConfig:
    bootstrap: KafkaAddress
    connect_url: str
    policy: AccessPolicy
    #: The REST API's basic auth and TLS (:meth:`streams.config.connect.ConnectSettings.http_options`).
    connect_http: Mapping[str, Any] = field(default_factory=dict)
    interval_s: float = 2.0
    # Isthmus's own topics, under the topic prefix (streams/kafka/names.py).
    dlq_topic: str = field(default_factory=dlq_topic)
    conflicts_topic: str = field(default_factory=lambda: own_topic(AUDIT_CONFLICTS))
    holds_topic: str = field(default_factory=lambda: own_topic(HOLDS))
    customer360_topic: str = field(default_factory=lambda: own_topic(CUSTOMER_360))
    #: Samples kept per chart series (900 at 2 s: the last half hour).
    history_points: int = 900
    #: The targets whose latency is charted; None: every writable system (``systems/``).
    targets: tuple[str, ...] | None = None


def _judged(verdict: health.Verdict) -> dict[str, Any]:
    """The snapshot's judgement, as ``isthmus status --json`` gives it (:func:`streams.inspect.health.judge`): what
    is down (``problems``), else what waits for a user's action (``held``, ``pending``), and the verdict's line."""
    return {"healthy": verdict.code == health.EXIT_HEALTHY, "verdict": verdict.line,
            "problems": list(verdict.problems), "held": list(verdict.held), "pending": list(verdict.pending),
            "behind": list(verdict.behind)}


def _empty_snapshot() -> dict[str, Any]:
    """What the page and /metrics show before a sample succeeded: nothing, and why."""
    return {"sampled_at": None, "connectors": [], "groups": [], "topics": [], "lag": [], "dlq_topic": dlq_topic(),
            "captures": {}, "dead_letter_count": 0, "dead_letters_pending": 0, "dead_letters_by_stage": {},
            "dead_letters": [], "conflicts": [], "holds": [], "latency": [], "retries": {}, "conflict_count": 0,
            **_judged(health.judge(["no sample yet"], {}, None, None))}


@dataclass(kw_only=True)
class Sampler:
    config: DashboardConfig
    store: SchemaStore
    catalog: PiiCatalog
    snapshot: dict[str, Any] = field(default_factory=_empty_snapshot)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _topic_rates: RateTracker = field(default_factory=RateTracker)
    _group_rates: RateTracker = field(default_factory=RateTracker)
    latency: LatencyTail | None = None
    dead_letters: DeadLetterTally = field(default_factory=DeadLetterTally)
    #: The flows' and sinks' problems, and when they were read (monotonic; None: not yet).
    consumer_problems: list[str] = field(default_factory=list)
    #: The flows and sinks that run behind (``isthmus status``'s ``behind``), read with the problems.
    consumers_behind: list[str] = field(default_factory=list)
    _consumers_at: float | None = None
    #: The running connectors' signs of life, and when they were read (monotonic; None: not yet).
    captures: dict[str, health.Capture] = field(default_factory=dict)
    _captures_at: float | None = None
    history: History = field(init=False)

    def __post_init__(self) -> None:
        self.history = History(capacity=self.config.history_points, interval_s=self.config.interval_s)

    async def sample(self) -> None:
        config = self.config
        now, at = time.monotonic(), time.time()
        problems: list[str] = []
        found, connect_problem = await asyncio.to_thread(sources.connectors, config.connect_url,
                                                         **config.connect_http)
        if connect_problem:
            problems.append(connect_problem)
        problems += await self._consumer_problems(now)
        counts = await asyncio.to_thread(sources.counts, config.bootstrap)
        states = [_state(shown) for shown in found]
        captures = await self._captures_of(now, states)
        problems += health.connector_problems(states, captures)
        await self.dead_letters.poll(config.bootstrap, config.dlq_topic, self.store)  # only the new letters
        letters = self.dead_letters
        if self.latency is None:
            self.latency = LatencyTail(bootstrap=config.bootstrap, store=self.store,
                                       join=LatencyJoin() if config.targets is None else
                                       LatencyJoin(targets=config.targets))
        try:
            await self.latency.poll()
        except KafkaError as exc:
            problems.append(f"end-to-end latency: cannot read the command and result topics ({exc})")
            await self.latency.close()
            self.latency = None
        group_rates = self._group_rates.since(now, counts.consumed)
        topic_rates = self._topic_rates.since(now, counts.topics)
        conflicts = await asyncio.to_thread(sources.latest, config.bootstrap, config.conflicts_topic, self.store,
                                            self.catalog, count=20, show_pii=False)
        recent = await asyncio.to_thread(sources.latest, config.bootstrap, config.holds_topic, self.store,
                                         self.catalog, count=sources.HOLD_RECORDS, show_pii=False)
        held = sources.held_now(recent)
        # the dashboard reads every dead letter (DeadLetterTally): its count is complete
        verdict = health.judge(problems, health.held_by_flow(held), None, health.Counted(
            topic=config.dlq_topic, count=letters.count, pending=letters.pending), behind=self.consumers_behind)
        self.snapshot = {
            "sampled_at": datetime.now(UTC).isoformat(),
            "connectors": found,
            "captures": {name: {"topic": c.topic, "age_s": c.age_s, "stalled": c.stalled, "error": c.error}
                         for name, c in sorted(captures.items())},
            "groups": sources.group_rows(counts, _or_zero(group_rates)),
            "topics": sources.topic_rows(counts, _or_zero(topic_rates)),
            "lag": [{"group": g, "topic": t, "lag": n} for (g, t), n in sorted(counts.lag_by_topic.items())],
            "dlq_topic": config.dlq_topic,
            "dead_letter_count": letters.count,
            "dead_letters_pending": letters.pending,
            "dead_letters_by_stage": dict(sorted(letters.by_stage.items())),
            "dead_letters": [_letter_row(e, self.store, self.catalog) for e in letters.newest()[:SHOWN]],
            "conflicts": conflicts,
            "holds": held[:SHOWN],
            "latency": self.latency.join.summary() if self.latency else [],
            "retries": dict(self.latency.join.retries) if self.latency else {},
            "conflict_count": sum(self.latency.conflicts.values()) if self.latency else 0,
            **_judged(verdict),
        }
        tail = self.latency
        self.history.record(at, group_rates=group_rates, lag=counts.lag, topic_rates=topic_rates,
                            latency={t: tail.join.histogram.cumulative(t) for t in tail.join.targets} if tail else {})
        self.ready.set()

    async def _consumer_problems(self, now: float) -> list[str]:
        """What is wrong with the flows and sinks, as ``isthmus status`` says it (a sink not running, or running
        with its target failing: :func:`streams.inspect.health.sink_state`), read every :data:`CONSUMERS_EVERY_S`."""
        if self._consumers_at is None or now - self._consumers_at >= CONSUMERS_EVERY_S:
            try:
                self.consumer_problems, self.consumers_behind = await asyncio.to_thread(
                    pipeline.consumer_problems, kafka_settings(self.config.bootstrap))
            except (AdminError, IsthmusError) as exc:
                self.consumer_problems, self.consumers_behind = [f"flows and sinks unknown: {exc}"], []
            self._consumers_at = now
        return self.consumer_problems

    async def _captures_of(self, now: float, states: list[ConnectorState]) -> dict[str, health.Capture]:
        """The running connectors' signs of life (:func:`sources.captures`), read every :data:`CAPTURES_EVERY_S`, and
        at once when the connectors that run are others."""
        running = sorted(state.name for state in states if state.running)
        if self._captures_at is None or now - self._captures_at >= CAPTURES_EVERY_S or sorted(self.captures) != running:
            self.captures = await asyncio.to_thread(sources.captures, self.config.bootstrap, self.config.connect_url,
                                                    running, **self.config.connect_http)
            self._captures_at = now
        return self.captures

    async def run(self) -> None:
        while True:
            try:
                await self.sample()
            except IsthmusError as exc:
                log.warning("dashboard: sampling failed: %s", exc)
                self.snapshot = {**self.snapshot, **_judged(health.judge([str(exc)], {}, None, None))}
            except Exception:  # a failed sample must not stop the live page
                log.exception("dashboard: sampling failed")
            self.ready.set()  # answer with what there is (and its problems) rather than wait for a good sample
            await asyncio.sleep(self.config.interval_s)

    async def close(self) -> None:
        await self.dead_letters.close()
        if self.latency is not None:
            await self.latency.close()


def _state(shown: Mapping[str, Any]) -> ConnectorState:
    """A connector's state from :meth:`ConnectorState.to_json` (what :func:`sources.connectors` gives)."""
    return ConnectorState(**{**shown, "tasks": tuple(TaskState(**task) for task in shown["tasks"])})


def _or_zero(rates: dict[str, float | None]) -> dict[str, float]:
    return {name: rate or 0.0 for name, rate in rates.items()}


def _letter_row(entry: dlq.DeadLetterEntry, store: SchemaStore, catalog: PiiCatalog) -> dict[str, Any]:
    letter = entry.letter
    return {"address": entry.address(), "timestamp_ms": entry.timestamp_ms, "stage": entry.stage,
            "error_type": letter["error_type"], "reason": entry.reason, "entity": letter_entity(entry, store, catalog),
            "original": f"{letter['topic']}[{letter['partition']}]@{letter['offset']}", "status": entry.status,
            "replays": [str(mark) for mark in entry.replays]}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AccessDenied as exc:
        return web.json_response({"error": str(exc), "denied": True}, status=403)
    except BadRequest as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except IsthmusError as exc:
        return web.json_response({"error": str(exc)}, status=502)


def build_app(config: DashboardConfig, *, store: SchemaStore | None = None) -> web.Application:
    store = store or SchemaStore.from_directory()
    sampler = Sampler(config=config, store=store, catalog=PiiCatalog.load(store.schemas))
    registry = dashboard_registry(lambda: sampler.snapshot, lambda: sampler.latency)
    policy = config.policy

    def caller(request: web.Request, permission: Permission, action: str) -> Caller:
        who = caller_of(request, policy)
        policy.require(who, permission, action=action)
        return who

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def state(request: web.Request) -> web.Response:
        who = caller(request, Permission.READ, "read the dashboard")
        await sampler.ready.wait()
        return web.json_response({**sampler.snapshot, "caller": {"role": who.role.label, "label": who.label}})

    async def series(request: web.Request) -> web.Response:
        caller(request, Permission.READ, "read the dashboard")
        try:  # no wait for a first sample: empty series are the true answer until there is one
            shown = int(request.query.get("shown", SHOWN_SERIES))
        except ValueError:
            raise BadRequest(f"shown must be a whole number of series per chart (default {SHOWN_SERIES})") from None
        return web.json_response(sampler.history.charts(match=request.query.get("match", "").strip(), shown=shown))

    async def metrics(request: web.Request) -> web.Response:
        caller(request, Permission.READ, "read metrics")
        await sampler.ready.wait()
        return metrics_response(registry)

    async def whoami(request: web.Request) -> web.Response:
        who = caller_of(request, policy)
        return web.json_response({"role": who.role.label, "label": who.label})

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        token = str(form.get("token", "")).strip()
        who = policy.caller(token) if policy.tokens else caller_of(request, policy)
        response = web.json_response({"role": who.role.label, "label": who.label})
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response

    async def logout(_: web.Request) -> web.Response:
        response = web.json_response({"role": None})
        response.del_cookie(COOKIE, path="/")
        return response

    async def replay(request: web.Request) -> web.Response:
        who = caller(request, Permission.OPERATE, "replay dead letters")
        try:
            body = await request.json()
            addresses = [str(a) for a in body["positions"]]
            force_stale = bool(body.get("stale", False))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BadRequest('the body must be JSON {"positions": ["PARTITION:OFFSET", ...]} (and "stale": true '
                             'to replay a change of a row that changed since)') from None
        entries = await dlq.read_dead_letters(config.bootstrap, config.dlq_topic, store)
        picked = dlq.pick(entries, addresses, config.dlq_topic)
        flows, _ = await asyncio.to_thread(load_entity_flows, store)  # a flow that cannot be built: as stored
        ways = replay_ways(picked, flows, store)
        rederive = {address: flow for address, (flow, _) in ways.items() if flow is not None}
        stale = {} if force_stale else await dlq.stale_changes(config.bootstrap, picked, rederive,
                                                                  letters=entries)
        done = await dlq.replay(config.bootstrap, config.dlq_topic, [e for e in picked if e.address() not in stale],
                                rederive=rederive, store=store)
        log.info("dashboard: %s replayed %s", who.label, ", ".join(addresses))
        return web.json_response({"replayed": [{"dead_letter": r.entry.address(),
                                                "way": "as_stored" if r.flow is None else "rederive", "flow": r.flow,
                                                "why": ways[r.entry.address()][1],
                                                "to": f"{r.topic}[{r.partition}]@{r.offset}"} for r in done],
                                  "skipped": [{"dead_letter": a, "why": why} for a, why in stale.items()]})

    async def customer(request: web.Request) -> web.Response:
        show_pii = request.query.get("show_pii") in ("1", "true")
        caller(request, Permission.SHOW_PII if show_pii else Permission.READ,
               "see personal data of a customer" if show_pii else "look up a customer")
        number = request.match_info["number"].strip()
        if not number:
            raise BadRequest("give a customer number, e.g. /api/customer360/C-1001")
        found = await asyncio.to_thread(sources.look_up, config.bootstrap, config.customer360_topic, number,
                                        store, sampler.catalog, show_pii=show_pii)
        if found is None:
            return web.json_response({"error": f"no customer {number!r} in {config.customer360_topic}"},
                                     status=404)
        return web.json_response({"customer": found, "masked": not show_pii})

    async def background(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(sampler.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sampler.close()

    app = web.Application(middlewares=[_errors])
    app.cleanup_ctx.append(background)
    app.add_routes([
        web.get("/", page), web.get("/api/state", state), web.get("/api/series", series),
        web.get("/api/whoami", whoami),
        web.post("/login", login), web.post("/logout", logout), web.post("/api/dlq/replay", replay),
        web.get("/api/customer360/{number}", customer), web.get("/metrics", metrics),
        web.static("/static", STATIC),
    ])
    return app


async def serve(config: DashboardConfig, *, port: int, started: Callable[[str], None] | None = None) -> None:
    """Run the dashboard on 127.0.0.1:``port`` until cancelled."""
    runner = web.AppRunner(build_app(config))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    if started is not None:
        started(f"http://127.0.0.1:{port}/")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
