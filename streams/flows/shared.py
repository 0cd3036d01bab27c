"""Two flows that keep one record: refused at load. A flow keeps the state of its record (an entity, a document,
a total: :attr:`~streams.flows.commands.Sends.kept`) and writes it into systems, taking what comes back from them
for echoes of its own writes or edits made there. A second flow on the same record (a flow file copied under
another name, or one more for the other direction) knows nothing of the first one's writes: into the same system,
each entity is created twice and every write is made twice; into the system the other one reads, each takes the
other's writes for that system's edits and writes them back, with conflicts and no fixed point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from streams.config_files.located_yaml import dotted, located
from streams.config_files.problem import Problem, shown
from streams.flows.commands import Sends
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile


def kept_twice(flows: Iterable[FlowSpec], files: Mapping[str, FlowFile]) -> list[Problem]:
    """A problem for each flow of ``flows`` that keeps a record an earlier one keeps, naming both flow files and
    the systems each writes it into. ``files``: the flow file of each flow by name (a plugin's flow has none, and
    is named by its flow only)."""
    keepers: dict[str, list[tuple[FlowSpec, list[Sends]]]] = {}
    for flow in flows:
        kept: dict[str, list[Sends]] = {}
        for sends in flow.sends:
            if sends.kept:
                kept.setdefault(sends.kept, []).append(sends)
        for record, sent in kept.items():
            keepers.setdefault(record, []).append((flow, sent))
    problems: list[Problem] = []
    for record, found in keepers.items():
        (first, first_sent), short = found[0], record.rpartition(".")[2]
        for flow, sent in found[1:]:
            both = sorted({s.target for s in sent} & {s.target for s in first_sent})
            if both:  # the lines that write into a shared system
                sent, first_sent = ([s for s in found if s.target in both] for found in (sent, first_sent))
            file, other = files.get(flow.name), files.get(first.name)
            said = (file, sent[0]) if file is not None else (other, first_sent[0]) if other is not None else None
            if said is None:
                continue
            if both:
                payloads = sorted({s.payload_type.rpartition(".")[2] for s in (*sent, *first_sent)})
                what = (f"both write {', '.join(payloads)} into {', '.join(both)}, neither knowing of the other's "
                        "writes: an entity is created there twice, and each takes the other's writes for edits made "
                        "there")
            else:
                what = (f"{first.name} writes it into {', '.join(sorted({s.target for s in first_sent}))} and "
                        f"{flow.name} into {', '.join(sorted({s.target for s in sent}))}: each would take the "
                        "other's writes for edits made there and write them back (conflicts, and no fixed point)")
            line, field = _where(*said)
            problems.append(Problem(
                file=said[0].path, line=line, field=field,
                message=(f"flow {flow.name} keeps the record {short}, which flow {first.name}"
                         f"{_named(other, first_sent[0])} keeps too; {what}"),
                fix=(f"keep one flow per record: remove the flow file of {flow.name} if it is a copy, or write "
                     f"every system of both from {first.name} (an entity flow takes several systems under `systems:` "
                     "and several origins, `origin: [a, b]`: flows/README.md, \"entity\")")))
    return problems


def _where(file: FlowFile, sends: Sends) -> tuple[int | None, str]:
    """The line and field of ``file`` that make its flow send ``sends`` (a block's section is under its name)."""
    return located(file.section).line(sends.at) or None, dotted((file.block, *sends.at))


def _named(file: FlowFile | None, sends: Sends) -> str:
    if file is None:
        return ""
    line, field = _where(file, sends)
    return f" ({shown(file.path)}:{line}, {field})"
