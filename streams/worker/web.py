"""The worker's HTTP endpoints: /health (alive), /ready, /metrics; on loopback unless ISTHMUS_WORKER_HOST names
another address (0.0.0.0 in a pod, for the kubelet's probes).

/ready answers 200 only when every flow is ready: its consumer has joined its group and every task assigned to it
has started (producer, stores restored, inputs at their committed offsets; :mod:`~streams.flows.engine.readiness`).
Otherwise 503, each flow saying its ``state`` (``starting``, ``joining``, ``restoring``), what it is ``waiting_for``
and, while tasks start, each one's step and stores' replay under ``restoring``. A worker that is joining or restoring
is alive: /health stays 200.

Flows left out because they cannot be built (a mapping file missing) are listed, with why, under
``unavailable`` in /health and /ready, and as ``isthmus_flow_unavailable`` in /metrics. A flow that cannot go
on (``FlowProcessor.failing_reason``: Kafka refuses a record it writes, whichever retry; or the flow has restarted
from its last commit with no commit since for ``failing_after_s``, an ACL that refuses it, TLS files that do not
load) makes /health answer 503, ``status: failing``, with the flow and why under ``failing`` (its last error:
``isthmus_flow_failing`` in /metrics): it is stuck, not slow. A flow not ready because it restarts says its
``restarts`` and ``last_error`` in /ready.

Kafka unreachable (the worker's connections to it fail: :mod:`streams.kafka.reachability`) makes /ready answer 503
at once, and /health 503 ``failing`` once it has lasted ``failing_after_s``, each saying why under ``kafka`` (the
servers, for how long, how many attempts failed); null while Kafka answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiohttp import web

from streams.flows.engine.processor import DEFAULT_FAILING_AFTER_S, FlowProcessor
from streams.kafka.reachability import UnreachableKafka
from streams.metrics.serving import metrics_response, port_unavailable
from streams.worker.metrics import worker_registry
from streams.worker.settings import WorkerSettings


def build_app(worker_id: str, processors: Sequence[FlowProcessor], unavailable: Mapping[str, str],
              kafka: UnreachableKafka | None = None,
              kafka_failing_after_s: float = DEFAULT_FAILING_AFTER_S) -> web.Application:
    """``unavailable``: the selected flows left out, name -> why (listed, never counted against readiness);
    ``kafka``: the watch on the worker's connections to Kafka (None: not watched)."""
    registry = worker_registry(worker_id, processors, unavailable)

    async def health(_: web.Request) -> web.Response:
        failing = {p.spec.name: reason for p in processors if (reason := p.failing_reason()) is not None}
        cut_off = kafka is not None and (kafka.unreachable_s() or 0.0) >= kafka_failing_after_s
        down = failing or cut_off
        return web.json_response({"status": "failing" if down else "ok", "worker": worker_id,
                                  "failing": failing, "kafka": kafka.reason() if cut_off and kafka else None,
                                  "unavailable": dict(unavailable)}, status=503 if down else 200)

    async def ready(_: web.Request) -> web.Response:
        flows = {p.spec.name: p.readiness() for p in processors}
        unreachable = None if kafka is None else kafka.reason()
        all_ready = all(p.ready for p in processors) and unreachable is None
        return web.json_response({"ready": all_ready, "flows": flows, "kafka": unreachable,
                                  "unavailable": dict(unavailable)}, status=200 if all_ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        return metrics_response(registry)

    app = web.Application()
    app.add_routes([web.get("/health", health), web.get("/ready", ready), web.get("/metrics", metrics)])
    return app


async def start_endpoints(app: web.Application, *, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: a free one): its runner (clean it up to stop) and the port bound. A port
    that cannot be bound is a :class:`~streams.metrics.exceptions.MetricsPortUnavailable` naming the variable."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise port_unavailable(exc, host=host, port=port, setting=WorkerSettings.env_name("port"),
                               serves="the worker's /health, /ready and /metrics") from exc
    return runner, runner.addresses[0][1] if runner.addresses else port
