"""The worker's HTTP endpoints, on loopback: /health (alive), /ready (every flow has its tasks), /metrics.

Flows left out because they cannot be built (a mapping file missing) are listed, with why, under
``unavailable`` in /health and /ready, and as ``isthmus_flow_unavailable`` in /metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aiohttp import web

from streams.flows.engine.processor import FlowProcessor

#: Each metric family of the worker: name, type, help, and its samples for one flow (extra labels, value).
_FAMILIES: tuple[tuple[str, str, str, Callable[[FlowProcessor], list[tuple[str, str]]]], ...] = (
    ("isthmus_flow_records_total", "counter", "Input records processed by a flow.",
     lambda p: [("", str(p.processed))]),
    ("isthmus_flow_emitted_total", "counter", "Records a flow emitted (commands, views, audit, dead letters).",
     lambda p: [("", str(p.emitted))]),
    ("isthmus_flow_processing_seconds_total", "counter", "Time a flow's handler spent on its records.",
     lambda p: [("", f"{p.processing_seconds:.6f}")]),
    ("isthmus_flow_dead_letters_total", "counter", "Input records a flow sent to the dead-letter topic.",
     lambda p: [("", str(p.dead_lettered))]),
    ("isthmus_flow_transactions_total", "counter", "Kafka transactions a flow committed.",
     lambda p: [("", str(p.transactions))]),
    ("isthmus_flow_events_total", "counter", "Events a flow counted: echoes_suppressed, conflicts, ...",
     lambda p: [(f',event="{event}"', str(n)) for event, n in sorted(p.events.items())]),
    ("isthmus_flow_tasks", "gauge", "Tasks (partitions) a flow runs in this worker.",
     lambda p: [("", str(len(p.tasks)))]),
)


def metrics_text(worker_id: str, processors: Sequence[FlowProcessor], unavailable: Mapping[str, str]) -> str:
    lines: list[str] = []
    for name, kind, text, samples in _FAMILIES:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f'{name}{{worker="{worker_id}",flow="{p.spec.name}"{labels}}} {value}'
                  for p in processors for labels, value in samples(p)]
    lines += ["# HELP isthmus_flow_unavailable A selected flow left out: it cannot be built (see /health).",
              "# TYPE isthmus_flow_unavailable gauge"]
    lines += [f'isthmus_flow_unavailable{{worker="{worker_id}",flow="{flow}"}} 1' for flow in unavailable]
    return "\n".join(lines) + "\n"


def build_app(worker_id: str, processors: Sequence[FlowProcessor],
              unavailable: Mapping[str, str]) -> web.Application:
    """``unavailable``: the selected flows left out, name -> why (listed, never counted against readiness)."""
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "worker": worker_id, "unavailable": dict(unavailable)})

    async def ready(_: web.Request) -> web.Response:
        flows = {p.spec.name: {"ready": p.ready, "tasks": sorted(p.tasks), "processed": p.processed}
                 for p in processors}
        all_ready = all(p.ready for p in processors)
        return web.json_response({"ready": all_ready, "flows": flows, "unavailable": dict(unavailable)},
                                 status=200 if all_ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=metrics_text(worker_id, processors, unavailable), content_type="text/plain")

    app = web.Application()
    app.add_routes([web.get("/health", health), web.get("/ready", ready), web.get("/metrics", metrics)])
    return app
