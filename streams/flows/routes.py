"""Whether the target files apply every command the flows can send: each kind a flow declares
(:attr:`~streams.flows.engine.api.FlowSpec.sends`) must find a route in its target's file, found as the sink finds
it (:meth:`~streams.sinks.config.model.TargetConfig.route`), or every such command would be dead-lettered
(``NoRoute``) at run time; and a SQL route's ``children`` must read a list the commands carry
(:attr:`~streams.flows.commands.Sends.carries`), or every such command would be dead-lettered ``NoLines``.
``isthmus mappings validate`` reports each one, with the flow file's line that makes the flow send it and the fix.
It also warns of a route addressed by the target's own id of a record the flow creates there, with no lookup
(:func:`unlinked_routes`), and finds an HTTP route that cannot send the null of a field the flow clears there
(:func:`unsent_clears`), which the sink would dead-letter at each clearing (``NullNotSent``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from streams.config_files.located_yaml import Node, dotted, located, parse
from streams.config_files.problem import Problem, shown
from streams.flows.commands import Sends
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile
from streams.sinks.adapters.mapping import http_null_reads, null_sent
from streams.sinks.config.model import PLACEHOLDER, EachItem, FromField, HttpRoute, Route, SqlRoute, TargetConfig


def _sent_routes(flows: Iterable[FlowSpec], targets: Mapping[str, TargetConfig], files: Mapping[str, FlowFile]
                 ) -> Iterator[tuple[FlowSpec, FlowFile | None, Sends, TargetConfig, Route | None]]:
    """Each kind of command a flow sends (once) to a system whose target file is loaded here: the flow, its file
    (a plugin's flow has none), what it sends, the target file and the route for it (None: none)."""
    for flow in flows:
        file = files.get(flow.name)
        for sends in dict.fromkeys(flow.sends):
            config = targets.get(sends.target)
            if config is not None:
                yield flow, file, sends, config, config.route(sends.payload_type, sends.operation)


def unrouted(flows: Iterable[FlowSpec], targets: Mapping[str, TargetConfig],
             files: Mapping[str, FlowFile]) -> list[Problem]:
    """A problem for each kind of command a flow of ``flows`` can send that the target file of its system cannot
    apply: it has no route for it, or the route's ``children`` read a list those commands never carry.
    ``targets``: the loaded target file of each writable system (a system without one here is checked where its
    file is loaded); ``files``: the flow file of each flow by name (a plugin's flow has none)."""
    problems: list[Problem] = []
    read: dict[str, Node] = {}
    for flow, file, sends, config, route in _sent_routes(flows, targets, files):
        if route is not None and not isinstance(route, SqlRoute):
            continue
        short = sends.payload_type.rpartition(".")[2]
        sent = f"flow {flow.name}{_where(file, sends)} sends to {sends.target} for {sends.why or 'what it decides'}"
        if route is None:
            problems.append(Problem(
                file=config.path, line=located(_read(config, read)).line(("routes",)), field="routes",
                message=(f"no route for {short} {sends.operation}, which {sent}: the sink would dead-letter "
                         "every such command (NoRoute)"),
                fix=(f"add a route with `payload_type: {short}` and `operation: {sends.operation}` to "
                     f"{shown(config.path)} (see targets/README.md, \"Routes\"), or change the flow file so "
                     "that it does not send it")))
        else:
            problems += _unfed_children(route, sends, config, read, sent, None if file is None else file.block)
    return problems


def unlinked_routes(flows: Iterable[FlowSpec], targets: Mapping[str, TargetConfig],
                    files: Mapping[str, FlowFile]) -> list[str]:
    """A warning for each HTTP route of a command a flow sends to a system it creates records in, whose path is
    addressed by that system's own id of the record (:attr:`~streams.flows.commands.Sends.unlinked`) with no lookup
    to fill it and no external id: a command decided while the create is on its way (a change made right after the
    entity was born, in the next source transaction) carries null there and is dead-lettered
    (``UnresolvedReference``) until it is replayed. A trial's new user lost a quarter of a healthy run's commands
    so."""
    warnings: list[str] = []
    for flow, file, sends, config, route in _sent_routes(flows, targets, files):
        if not sends.unlinked or not isinstance(route, HttpRoute) or route.external_id:
            continue
        bare = [name for name in PLACEHOLDER.findall(route.path)
                if name in sends.unlinked and name not in route.lookups]
        if not bare:
            continue
        field, short = bare[0], sends.payload_type.rpartition(".")[2]
        warnings.append(
            f"{shown(config.path)}:{route.line}: route {short} {sends.operation} ({route.method} {route.path}) is "
            f"addressed by {{{field}}}, {sends.target}'s own id of the record, which flow {flow.name}"
            f"{_where(file, sends)} knows only once {sends.target}'s row of an entity it created there is seen; "
            f"{_article(sends.operation)} {sends.operation} decided before that (a change made right after the "
            "entity was born) carries null there: the sink fills it with the id the create was answered with (the "
            "create route's ids) while it runs, but a sink restarted in between, or another sink of a fleet, "
            "dead-letters it (UnresolvedReference) until it is replayed; fix: add a "
            f"lookup that finds {field} by a field every command carries (lookups: {{{field}: {{path: ..., "
            "take: ..., match: ...}}, targets/README.md, \"Routes\"), or address the record by such a field")
    return warnings


def unsent_clears(flows: Iterable[FlowSpec], targets: Mapping[str, TargetConfig],
                  files: Mapping[str, FlowFile]) -> list[Problem]:
    """A problem for each HTTP route of a command a flow sends that clears fields (:attr:`~streams.flows.commands.
    Sends.clears`: nullable fields of its ``writes`` that ``cannot_clear`` leaves out) whose body reads such a
    field without sending its null (no ``keep_null: true``, or ``body: payload``): the target would keep its old
    value, so the sink dead-letters every such command (``NullNotSent``), and only after a value was cleared in the
    source. A trial's new user found out so, from stale e-mails in the target."""
    problems: list[Problem] = []
    read: dict[str, Node] = {}
    for flow, file, sends, config, route in _sent_routes(flows, targets, files):
        if not sends.clears or not isinstance(route, HttpRoute):
            continue
        reads = http_null_reads(route, sends.carries or sends.clears)
        unsent = sorted(name for name in sends.clears
                        if any(path == name or path.startswith(name + ".") for path, _ in reads)
                        and not null_sent(name, reads))
        if not unsent:
            continue
        short = sends.payload_type.rpartition(".")[2]
        keys = _route_key(_read(config, read), sends)
        at = _body_key(route, unsent[0], keys)
        names = ", ".join(unsent)
        specs = ", ".join(f"{{from: {name}, keep_null: true}}" for name in unsent)
        problems.append(Problem(
            file=config.path, line=located(_read(config, read)).line(at), field=dotted(at),
            message=(f"route {short} {sends.operation} cannot send a null of {names}, which flow {flow.name}"
                     f"{_where(file, sends)} clears in {sends.target} when the source clears it: the target "
                     "would keep its old value, so the sink would dead-letter every such command (NullNotSent)"),
            fix=(f"send the null in the route's body ({specs}; with `body: payload`, name the fields), or, if "
                 f"{sends.target} cannot clear them, list them in the flow file's "
                 f"systems.{sends.target}.cannot_clear (flows/README.md)")))
    return problems


def _body_key(route: HttpRoute, name: str, keys: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The keys of the body entry of ``route`` (its own body, else its external id's update's) that reads payload
    field ``name`` without sending its null; the route's ``body`` (or the route) when none names it alone."""
    if route.whole_payload:
        return (*keys, "body")
    update = route.external_id.update if route.external_id is not None else None
    for where, body in (((*keys, "body"), route.body), ((*keys, "external_id", "update", "body"),
                                                         update.body if update is not None else None)):
        for request, spec in (body or {}).items():
            if isinstance(spec, FromField | EachItem) and not spec.keep_null \
                    and (spec.path == name or spec.path.startswith(name + ".")):
                return (*where, request)
    return keys


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _read(config: TargetConfig, read: dict[str, Node]) -> Node:
    """The target file of ``config`` as YAML with lines, read once (``read``: by system)."""
    if config.system not in read:
        read[config.system] = parse(config.path.read_text(encoding="utf-8"))
    return read[config.system]


def _where(file: FlowFile | None, sends: Sends) -> str:
    """`` (<flow file>:<line>, <block>.<keys>)``: where the flow file makes the flow send ``sends``."""
    if file is None:
        return ""
    # a block's section is under its block's name
    return f" ({shown(file.path)}:{located(file.section).line(sends.at)}, {dotted((file.block, *sends.at))})"


def _unfed_children(route: SqlRoute, sends: Sends, config: TargetConfig, read: dict[str, Node], sent: str,
                    block: str | None) -> list[Problem]:
    """A problem for each ``children`` entry of ``route`` whose list (``from``) the commands of ``sends`` never
    carry: the sink refuses each (``NoLines``), since no word of the lines is not no lines."""
    if sends.carries is None:
        return []
    problems = []
    short = sends.payload_type.rpartition(".")[2]
    for number, child in enumerate(route.children):
        name = child.source.split(".")[0]
        if name in sends.carries:
            continue
        if block == "entity":
            fix = (f"an entity flow sends {name} only to a system whose `writes` list it (one it reads: for a "
                   "column that keeps the whole list, JSON or TEXT, mapped back with parse_json); a header whose "
                   f"lines are rows of a child table of its own ({child.table}) is a document: sync it with a "
                   "`document` flow (flows/README.md, \"## document\"), or take `children` out of this route")
        else:
            fix = (f"make the flow send {name} in its {short} payload (its block's section of flows/README.md), or "
                   "take `children` out of this route")
        field = dotted((*_route_key(_read(config, read), sends), "children", number, "from"))
        problems.append(Problem(
            file=config.path, line=child.line, field=field,
            message=(f"children {child.table} takes its rows from the payload's {child.source}, but the "
                     f"{short} {sends.operation} commands that {sent} never carry {name}: the sink would "
                     "dead-letter every such command (NoLines) and write none of it"),
            fix=fix))
    return problems


def _route_key(root: Node, sends: Sends) -> tuple[str | int, ...]:
    """``("routes", <index>)`` of the route of ``sends`` in the target file read as ``root``."""
    short = sends.payload_type.rpartition(".")[2]
    for index, route in enumerate(root.plain().get("routes") or ()):
        if (isinstance(route, dict) and str(route.get("payload_type", "")).rpartition(".")[2] == short
                and route.get("operation") == sends.operation):
            return ("routes", index)
    return ("routes",)
