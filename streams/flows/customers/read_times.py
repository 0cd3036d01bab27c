"""Rows several origins held before the first sync, decided by when each snapshot read them: said at build.

A ``latest_commit_wins`` field takes the later commit's value. A snapshot read (Debezium's ``op: r``: the initial
snapshot of a connector deployed over data already there, ``isthmus connectors snapshot``, a ``resync:``) carries the
time the connector read the row, not when the row changed. An entity both origins held before the first sync is then
decided by the order the two connectors read it: both in the same second give every such field to its owner
(``owner_on_tie``), and a connector that reads a second later wins them all. A source that declares when its rows
last changed (``changed_at``, mappings/README.md) has that time taken instead. :func:`read_times` is the note that
names the origins' sources that declare none.
"""

from __future__ import annotations

from streams.config_files.problem import Problem
from streams.flows.files import Section
from streams.mapping.spec import CHANGED_AT, Policy, RecordMapping


def read_times(section: Section, record: RecordMapping, origins: tuple[str, ...]) -> tuple[str, ...]:
    """One note when a ``latest_commit_wins`` field of ``record`` is bound by table sources of two or more of
    ``origins`` and one of those sources declares no ``changed_at``: how such a field of an entity both held before
    the first sync is decided, and the fix; none otherwise."""
    latest = {name for name, policy in record.policies.items() if policy.policy is Policy.LATEST_COMMIT_WINS}
    sources = [s for s in record.sources if s.system in origins and s.table is not None]
    fields = sorted(name for name in latest if len({s.system for s in sources if name in s.bindings}) > 1)
    untimed = [s for s in sources if s.changed_at is None and set(fields) & set(s.bindings)]
    if not untimed:
        return ()
    holders = sorted({str(s.system) for s in sources if set(fields) & set(s.bindings)})
    named = ", ".join(f"sources.{s.name} ({s.system}.{s.table})" for s in untimed)
    return (str(Problem(
        file=section.flow.path, line=section.line("origin"), field=f"{section.where}.origin",
        message=(f"{', '.join(fields)} (latest_commit_wins) of an entity {' and '.join(holders)} both hold before "
                 "the first sync is decided by when each connector's snapshot read its row, not when it changed: "
                 "rows read in the same second give the owner every such field (owner_on_tie), and a connector "
                 "deployed a second later wins them all; a later snapshot (`isthmus connectors snapshot`, "
                 f"`resync:`) of a value the system had not reported is read as changed then too; {named} in "
                 f"mappings/{record.path.name} declare{'s' if len(untimed) == 1 else ''} no `{CHANGED_AT}`"),
        fix=(f"name the column that keeps when the row last changed under each of them: `{CHANGED_AT}: <column>` "
             f"(a zone-less local time: `{CHANGED_AT}: {{from: <column>, transform: [local_to_utc]}}`; "
             "mappings/README.md, \"When a row last changed\"); a table that keeps none: compare the systems' rows "
             "after the first sync (isthmus.audit.conflicts names each field decided)"))),)
