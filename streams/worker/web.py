"""The worker's HTTP endpoints: /health (alive), /ready (every flow has its tasks), /metrics; on loopback
unless ISTHMUS_WORKER_HOST names another address (0.0.0.0 in a pod, for the kubelet's probes).

Flows left out because they cannot be built (a mapping file missing) are listed, with why, under
``unavailable`` in /health and /ready, and as ``isthmus_flow_unavailable`` in /metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiohttp import web

from streams.flows.engine.processor import FlowProcessor
from streams.metrics.serving import metrics_response
from streams.worker.metrics import worker_registry


def build_app(worker_id: str, processors: Sequence[FlowProcessor],
              unavailable: Mapping[str, str]) -> web.Application:
    """``unavailable``: the selected flows left out, name -> why (listed, never counted against readiness)."""
    registry = worker_registry(worker_id, processors, unavailable)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "worker": worker_id, "unavailable": dict(unavailable)})

    async def ready(_: web.Request) -> web.Response:
        flows = {p.spec.name: {"ready": p.ready, "tasks": sorted(p.tasks), "processed": p.processed}
                 for p in processors}
        all_ready = all(p.ready for p in processors)
        return web.json_response({"ready": all_ready, "flows": flows, "unavailable": dict(unavailable)},
                                 status=200 if all_ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        return metrics_response(registry)

    app = web.Application()
    app.add_routes([web.get("/health", health), web.get("/ready", ready), web.get("/metrics", metrics)])
    return app
