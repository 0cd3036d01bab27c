"""Which flows a worker runs: the flows of the flow files (``flows/*.yaml``, each a built-in building block
configured by data, :mod:`streams.flows.files`), and users' own flows registered as plugins.

A plugin is a function ``(FlowContext) -> FlowSpec`` published under the entry-point group
``isthmus.flows`` (``[project.entry-points."isthmus.flows"] my-flow = "my_pkg.flows:build"``), or named
by dotted path in ``ISTHMUS_FLOW_PLUGINS`` (``my-flow=my_pkg.flows:build,other:build``). No core file is edited.

Every flow is known by name before it is built, so a worker builds only the flows it runs
(``ISTHMUS_WORKER_FLOWS``): a flow file's flow by its ``name:``, an entry point by its own name,
an ``ISTHMUS_FLOW_PLUGINS`` item by the ``name=`` before its path. The built flow must carry that name
(checked once built). An ``ISTHMUS_FLOW_PLUGINS`` item without ``name=`` is always built and kept when its
flow's name is selected. A selected flow whose builder raises :class:`FlowUnavailable` (a mapping file it
needs is missing) is left out with its reason, logged once at ERROR (a flow file that does not run), and the
others run; when none can be built, :func:`build_flows` raises with every reason. Flow files that do not build,
and two flows keeping one record (:mod:`streams.flows.shared`), raise one :class:`FlowFileError` with every
problem of every selected flow.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from streams.config_files.problem import Problem
from streams.errors import IsthmusError
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.exceptions import FlowFileError, FlowUnavailable
from streams.flows.files import BLOCKS, FlowFile, load_flow_files
from streams.flows.shared import kept_twice

FlowBuilder = Callable[[FlowContext], FlowSpec]
ENTRY_POINT_GROUP = "isthmus.flows"
PLUGINS_ENV = "ISTHMUS_FLOW_PLUGINS"
SELECTION_ENV = "ISTHMUS_WORKER_FLOWS"

log = logging.getLogger(__name__)


class FlowPluginError(IsthmusError):
    """A flow plugin could not be loaded or did not build a FlowSpec."""


@dataclass(frozen=True)
class Registered:
    """A flow a worker can run, before it is built: ``name`` is None for an ISTHMUS_FLOW_PLUGINS item that
    does not declare one (its name is known only once built); ``flow`` is the flow file of a built-in block."""

    name: str | None
    path: str
    origin: str
    flow: FlowFile | None = None


@dataclass(frozen=True)
class BuiltFlows:
    """The flows to run, and the selected flows left out: name -> why, and how to fix it; ``problems``: the
    same by name, where a flow file says it (file, line, field, fix), for ``isthmus mappings validate`` (none for
    a plugin's flow, which has no file)."""

    flows: list[FlowSpec]
    unavailable: dict[str, str]
    problems: Mapping[str, tuple[Problem, ...]] = field(default_factory=dict)


def registered(env: Mapping[str, str] | None = None) -> list[Registered]:
    """Every registered flow, nothing imported yet."""
    env = os.environ if env is None else env
    found = [Registered(f.name, BLOCKS[f.block], f"flow file {f.path.name} (block {f.block})", f)
             for f in load_flow_files(env=env)]
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.append(Registered(entry.name, entry.value, f"entry point {entry.name!r} ({ENTRY_POINT_GROUP})"))
    for item in filter(None, (p.strip() for p in env.get(PLUGINS_ENV, "").split(","))):
        name, _, path = item.rpartition("=")
        found.append(Registered(name.strip() or None, path.strip(), PLUGINS_ENV))
    names = [r.name for r in found if r.name is not None]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise FlowPluginError(f"two flows are registered as {', '.join(duplicated)}; flow names must be unique "
                              f"(rename the entry point or the {PLUGINS_ENV} item)")
    return found


def _resolve(path: str, origin: str) -> Callable[..., FlowSpec]:
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


def _build(entry: Registered, context: FlowContext) -> FlowSpec:
    builder = _resolve(entry.path, entry.origin)
    spec = builder(context) if entry.flow is None else builder(context, entry.flow)
    if not isinstance(spec, FlowSpec):
        raise FlowPluginError(f"{entry.origin}: {entry.path} returned {type(spec).__name__}, not a FlowSpec")
    if entry.name is not None and spec.name != entry.name:
        raise FlowPluginError(f"{entry.origin}: {entry.path} built a flow named {spec.name!r}, but it is registered "
                              f"as {entry.name!r}; give the registration the flow's name")
    return spec


def build_flows(context: FlowContext, only: set[str] | None = None,
                env: Mapping[str, str] | None = None) -> BuiltFlows:
    """Build the flows named in ``only`` (None: every registered flow); a flow not selected is never built.

    A flow that raises :class:`FlowUnavailable` is left out and logged once, at ERROR; flow files that do not
    build raise one :class:`FlowFileError` with the problems of them all, once every selected flow was tried;
    any other error propagates. A name in ``only`` that no flow has raises :class:`FlowPluginError`; no flow
    left to run raises :class:`FlowUnavailable` with every reason."""
    flows: list[FlowSpec] = []
    unavailable: dict[str, str] = {}
    problems: dict[str, tuple[Problem, ...]] = {}
    refused: list[Problem] = []
    known: list[str] = []
    entries = registered(env)
    for entry in entries:
        if entry.name is not None:
            known.append(entry.name)
            if only is not None and entry.name not in only:
                continue
        try:
            spec = _build(entry, context)
        except FlowFileError as exc:  # the other files' problems are said with it, in the same run
            refused += exc.problems
            continue
        except FlowUnavailable as exc:
            name = entry.name or entry.path
            unavailable[name] = (f"{exc}; add the missing file(s) to the mappings folder (ISTHMUS_MAPPINGS_DIR, "
                                 f"default mappings/), or leave {name} out of {SELECTION_ENV} (or remove its flow "
                                 f"file)")
            problems[name] = exc.problems or _unbuilt(entry, str(exc))
            log.error("flow %s is not started: %s", name, unavailable[name])
            continue
        if entry.name is None:
            known.append(spec.name)
        if only is None or spec.name in only:
            flows.append(spec)
    refused += kept_twice(flows, {e.name: e.flow for e in entries if e.name and e.flow})
    if refused:
        raise FlowFileError(refused)
    names = [f.name for f in flows]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise FlowPluginError(f"two flows are named {', '.join(duplicated)}; flow names must be unique")
    if only is not None and (unknown := only - set(names) - set(unavailable)):
        raise FlowPluginError(f"no flow named {', '.join(sorted(unknown))}; flows: {', '.join(known) or 'none'}")
    if not flows and unavailable:
        raise FlowUnavailable("no flow can be built:\n  " + "\n  ".join(
            f"{name}: {reason}" for name, reason in unavailable.items()))
    return BuiltFlows(flows=flows, unavailable=unavailable, problems=problems)


def _unbuilt(entry: Registered, reason: str) -> tuple[Problem, ...]:
    """A flow left out for a reason no one line of its flow file gives (a look-up of a record no mapping file
    targets), as a problem of its flow file; none for a plugin's flow, which has no file."""
    if entry.flow is None:
        return ()
    return (Problem(file=entry.flow.path, line=entry.flow.section.line or None, field=entry.flow.block,
                    message=f"the flow cannot be built: {reason}",
                    fix="add the mapping file it needs (the reason names it), or remove the flow file"),)
