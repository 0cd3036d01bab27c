"""Which flows a worker runs: the built-in ones, and users' own flows registered as plugins.

A plugin is a function ``(FlowContext) -> FlowSpec`` published under the entry-point group
``isthmus.flows`` (``[project.entry-points."isthmus.flows"] my_flow = "my_pkg.flows:build"``), or named
by dotted path in ``ISTHMUS_FLOW_PLUGINS`` (``my_pkg.flows:build,other:build``). No core file is edited.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from importlib.metadata import entry_points

from streams.errors import IsthmusError
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec

FlowBuilder = Callable[[FlowContext], FlowSpec]
ENTRY_POINT_GROUP = "isthmus.flows"


class FlowPluginError(IsthmusError):
    """A flow plugin could not be loaded or did not build a FlowSpec."""


#: ``module:function`` of each built-in flow builder, in the order a worker starts them.
BUILTIN: tuple[str, ...] = (
    "streams.flows.customers:build_customer_flow",
    "streams.flows.orders:build",
    "streams.flows.stock:build",
    "streams.flows.canonical:build",
)


def _resolve(path: str, origin: str) -> FlowBuilder:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise FlowPluginError(f"{origin}: {path!r} is not 'module:function'")
    try:
        builder = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise FlowPluginError(f"{origin}: cannot load {path!r}: {exc}") from exc
    if not callable(builder):
        raise FlowPluginError(f"{origin}: {path!r} is not callable")
    return builder  # type: ignore[no-any-return]


def builders(env: dict[str, str] | None = None) -> list[tuple[str, FlowBuilder]]:
    env = dict(os.environ) if env is None else env
    found = [(path, _resolve(path, "built-in flow")) for path in BUILTIN]
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.append((entry.value, _resolve(entry.value, f"entry point {entry.name!r} ({ENTRY_POINT_GROUP})")))
    for path in filter(None, (p.strip() for p in env.get("ISTHMUS_FLOW_PLUGINS", "").split(","))):
        found.append((path, _resolve(path, "ISTHMUS_FLOW_PLUGINS")))
    return found


def build_flows(context: FlowContext, only: set[str] | None = None,
                env: dict[str, str] | None = None) -> list[FlowSpec]:
    flows: list[FlowSpec] = []
    for path, builder in builders(env):
        spec = builder(context)
        if not isinstance(spec, FlowSpec):
            raise FlowPluginError(f"{path} returned {type(spec).__name__}, not a FlowSpec")
        if only is None or spec.name in only:
            flows.append(spec)
    names = [f.name for f in flows]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise FlowPluginError(f"two flows are named {', '.join(duplicated)}; flow names must be unique")
    if only is not None and (unknown := only - set(names)):
        raise FlowPluginError(f"no flow named {', '.join(sorted(unknown))}; flows: {', '.join(names) or 'none'}")
    return flows
