"""Whether the target files apply every command the flows can send: each kind a flow declares
(:attr:`~streams.flows.engine.api.FlowSpec.sends`) must find a route in its target's file, found as the sink finds
it (:meth:`~streams.sinks.config.model.TargetConfig.route`), or every such command would be dead-lettered
(``NoRoute``) at run time. ``isthmus mappings validate`` reports each one missing, with the flow file's line that
makes the flow send it and the route to add.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from streams.config_files.located_yaml import dotted, located, parse
from streams.config_files.problem import Problem, shown
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile
from streams.sinks.config.model import TargetConfig


def unrouted(flows: Iterable[FlowSpec], targets: Mapping[str, TargetConfig],
             files: Mapping[str, FlowFile]) -> list[Problem]:
    """A problem for each kind of command a flow of ``flows`` can send that the target file of its system has no
    route for. ``targets``: the loaded target file of each writable system (a system without one here is checked
    where its file is loaded); ``files``: the flow file of each flow by name (a plugin's flow has none)."""
    problems: list[Problem] = []
    routes_lines: dict[str, int | None] = {}
    for flow in flows:
        file = files.get(flow.name)
        for sends in dict.fromkeys(flow.sends):
            config = targets.get(sends.target)
            if config is None or config.route(sends.payload_type, sends.operation) is not None:
                continue
            if sends.target not in routes_lines:
                routes_lines[sends.target] = located(parse(config.path.read_text(encoding="utf-8"))).line(
                    ("routes",))
            short = sends.payload_type.rpartition(".")[2]
            where = "" if file is None else (  # a block's section is under its block's name
                f" ({shown(file.path)}:{located(file.section).line(sends.at)}, {dotted((file.block, *sends.at))})")
            problems.append(Problem(
                file=config.path, line=routes_lines[sends.target], field="routes",
                message=(f"no route for {short} {sends.operation}, which flow {flow.name}{where} sends to "
                         f"{sends.target} for {sends.why or 'what it decides'}: the sink would dead-letter every such "
                         "command (NoRoute)"),
                fix=(f"add a route with `payload_type: {short}` and `operation: {sends.operation}` to "
                     f"{shown(config.path)} (see targets/README.md, \"Routes\"), or change the flow file so that it "
                     "does not send it")))
    return problems
