"""A failed task whose source position is gone from the database: a PostgreSQL replication slot dropped (or the WAL
its offsets point into removed), or MariaDB binlogs purged past its offsets. Restarting it cannot help: the task
starts from the same offsets and fails the same way. Only a new snapshot can, `isthmus connectors offsets NAME
--reset` (connect-configs/README.md, "Lost position: a dropped replication slot" and "Lost position: purged
binlogs"). Debezium words these causes in one long line, most of it its offset context, with the useful part at
its end; :attr:`LostPosition.cause` keeps that end.

A binlog task can also fail on a change of a captured table whose schema its schema history does not hold (``Encountered
change event for table erp.loyalty whose schema isn't known to this connector``): with
``schema.history.internal.store.only.captured.tables.ddl: true`` the history keeps only the DDL of the tables captured
when it was written, so a table created first and added to ``table.include.list`` later has no schema there. A restart
meets the same change and fails again; the recovery is the same new snapshot, which records every captured table's
schema (connect-configs/README.md, "Adding a table to a MariaDB capture"). It is a :class:`LostPosition` of kind
``schema``: the task lost what it needs to read on from its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The README the recoveries are described in, and its sections.
README = "connect-configs/README.md"
SLOT_SECTION = "Lost position: a dropped replication slot"
BINLOG_SECTION = "Lost position: purged binlogs"
SCHEMA_SECTION = "Adding a table to a MariaDB capture"

#: Debezium's and the servers' words for a position that is gone (case-insensitive).
_LOST = re.compile(r"no longer available on the server|binlog files have been purged|Could not find GTID state"
                   r"|could not find first log file name in binary log index|replication slot \S+ does not exist"
                   r"|Saved offset is before replication slot", re.IGNORECASE)
#: Debezium's words for a change of a table its schema history holds no schema of.
_SCHEMA_UNKNOWN = re.compile(r"Encountered change event for table \S+ whose schema isn't known to this connector",
                             re.IGNORECASE)
_POSTGRES = re.compile(r"PostgresOffsetContext|replication slot|\blsn\b|postgres", re.IGNORECASE)
#: Debezium's offset context in its message (``starting at PostgresOffsetContext [...], but``): hundreds of
#: characters of its own state, shown as ``[…]``.
_CONTEXT = re.compile(r"\[.*\]")


@dataclass(frozen=True, kw_only=True)
class LostPosition:
    """A task failed because the position its offsets hold is no longer on the server."""

    #: ``postgres`` or ``mariadb``.
    engine: str
    #: The trace's line that says so, its offset context cut out.
    cause: str
    #: ``position`` (the slot or binlogs are gone) or ``schema`` (a captured table's schema is not in the history).
    kind: str = "position"

    @property
    def what(self) -> str:
        if self.kind == "schema":
            return ("a captured table's schema is not in its schema history (a table created before it was added to "
                    "table.include.list, while `schema.history.internal.store.only.captured.tables.ddl` is true)")
        return "its replication slot was dropped (or the WAL it pointed into removed)" \
            if self.engine == "postgres" else "the binlogs it was reading were purged"

    @property
    def section(self) -> str:
        if self.kind == "schema":
            return SCHEMA_SECTION
        return SLOT_SECTION if self.engine == "postgres" else BINLOG_SECTION

    def recovery(self, connector: str) -> str:
        """What to do, with the README section that says more."""
        slot = " (the connector creates its replication slot again as it starts)" if self.engine == "postgres" \
            else ""
        if self.kind == "schema":
            return (f"a restart meets the same change and fails again: run `isthmus connectors offsets {connector} "
                    "--reset`, which snapshots every captured table again and records their schemas; the changes made "
                    "meanwhile arrive only as the rows' current state. Set "
                    "`schema.history.internal.store.only.captured.tables.ddl: false` so that the next table added "
                    f"needs no reset ({README}, \"{self.section}\")")
        return (f"a restart starts from the same lost position and fails again: run `isthmus connectors offsets "
                f"{connector} --reset`, which snapshots every captured table again{slot}; the changes made meanwhile "
                f"arrive only as the rows' current state ({README}, \"{self.section}\")")


def lost_position(trace: str | None) -> LostPosition | None:
    """The lost position a task's ``trace`` names, or None when it names none."""
    lines = [line.strip().removeprefix("Caused by:").strip() for line in (trace or "").splitlines()]
    found = [line for line in lines if _LOST.search(line)]
    if not found:
        unknown = [line for line in lines if _SCHEMA_UNKNOWN.search(line)]
        return LostPosition(engine="mariadb", cause=unknown[0], kind="schema") if unknown else None
    engine = "postgres" if _POSTGRES.search(trace or "") else "mariadb"
    return LostPosition(engine=engine, cause=_CONTEXT.sub("[…]", found[0]))


__all__ = ["BINLOG_SECTION", "SCHEMA_SECTION", "SLOT_SECTION", "LostPosition", "lost_position"]
