"""The worker's HTTP endpoints, on loopback: /health (alive), /ready (every flow has its tasks), /metrics."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from streams.flows.engine.processor import FlowProcessor


def metrics_text(worker_id: str, processors: Sequence[FlowProcessor]) -> str:
    lines = [
        "# HELP isthmus_flow_records_total Input records processed by a flow.",
        "# TYPE isthmus_flow_records_total counter",
    ]
    lines += [f'isthmus_flow_records_total{{worker="{worker_id}",flow="{p.spec.name}"}} {p.processed}'
              for p in processors]
    lines += ["# HELP isthmus_flow_emitted_total Records a flow emitted (commands, views, audit, dead letters).",
              "# TYPE isthmus_flow_emitted_total counter"]
    lines += [f'isthmus_flow_emitted_total{{worker="{worker_id}",flow="{p.spec.name}"}} {p.emitted}'
              for p in processors]
    lines += ["# HELP isthmus_flow_processing_seconds_total Time a flow's handler spent on its records.",
              "# TYPE isthmus_flow_processing_seconds_total counter"]
    lines += [f'isthmus_flow_processing_seconds_total{{worker="{worker_id}",flow="{p.spec.name}"}} '
              f"{p.processing_seconds:.6f}" for p in processors]
    lines += ["# HELP isthmus_flow_dead_letters_total Input records a flow sent to the dead-letter topic.",
              "# TYPE isthmus_flow_dead_letters_total counter"]
    lines += [f'isthmus_flow_dead_letters_total{{worker="{worker_id}",flow="{p.spec.name}"}} {p.dead_lettered}'
              for p in processors]
    lines += ["# HELP isthmus_flow_transactions_total Kafka transactions a flow committed.",
              "# TYPE isthmus_flow_transactions_total counter"]
    lines += [f'isthmus_flow_transactions_total{{worker="{worker_id}",flow="{p.spec.name}"}} {p.transactions}'
              for p in processors]
    lines += ["# HELP isthmus_flow_events_total Events a flow counted: echoes_suppressed, conflicts, ...",
              "# TYPE isthmus_flow_events_total counter"]
    lines += [f'isthmus_flow_events_total{{worker="{worker_id}",flow="{p.spec.name}",event="{event}"}} {n}'
              for p in processors for event, n in sorted(p.events.items())]
    lines += ["# HELP isthmus_flow_tasks Tasks (partitions) a flow runs in this worker.",
              "# TYPE isthmus_flow_tasks gauge"]
    lines += [f'isthmus_flow_tasks{{worker="{worker_id}",flow="{p.spec.name}"}} {len(p.tasks)}' for p in processors]
    return "\n".join(lines) + "\n"


def build_app(worker_id: str, processors: Sequence[FlowProcessor]) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "worker": worker_id})

    async def ready(_: web.Request) -> web.Response:
        flows = {p.spec.name: {"ready": p.ready, "tasks": sorted(p.tasks), "processed": p.processed}
                 for p in processors}
        all_ready = all(p.ready for p in processors)
        return web.json_response({"ready": all_ready, "flows": flows}, status=200 if all_ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=metrics_text(worker_id, processors), content_type="text/plain")

    app = web.Application()
    app.add_routes([web.get("/health", health), web.get("/ready", ready), web.get("/metrics", metrics)])
    return app
