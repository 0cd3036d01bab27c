"""A failed task whose source position is gone from the database: a PostgreSQL replication slot dropped (or the WAL
its offsets point into removed), or MariaDB binlogs purged past its offsets. Restarting it cannot help: the task
starts from the same offsets and fails the same way. Only a new snapshot can, `isthmus connectors offsets NAME
--reset` (connect-configs/README.md, "Lost position: a dropped replication slot" and "Lost position: purged
binlogs"). Debezium words these causes in one long line, most of it its offset context, with the useful part at
its end; :attr:`LostPosition.cause` keeps that end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The README the recoveries are described in, and its sections.
README = "connect-configs/README.md"
SLOT_SECTION = "Lost position: a dropped replication slot"
BINLOG_SECTION = "Lost position: purged binlogs"

#: Debezium's and the servers' words for a position that is gone (case-insensitive).
_LOST = re.compile(r"no longer available on the server|binlog files have been purged|Could not find GTID state"
                   r"|could not find first log file name in binary log index|replication slot \S+ does not exist"
                   r"|Saved offset is before replication slot", re.IGNORECASE)
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

    @property
    def what(self) -> str:
        return "its replication slot was dropped (or the WAL it pointed into removed)" \
            if self.engine == "postgres" else "the binlogs it was reading were purged"

    @property
    def section(self) -> str:
        return SLOT_SECTION if self.engine == "postgres" else BINLOG_SECTION

    def recovery(self, connector: str) -> str:
        """What to do, with the README section that says more."""
        slot = " (the connector creates its replication slot again as it starts)" if self.engine == "postgres" \
            else ""
        return (f"a restart starts from the same lost position and fails again: run `isthmus connectors offsets "
                f"{connector} --reset`, which snapshots every captured table again{slot}; the changes made meanwhile "
                f"arrive only as the rows' current state ({README}, \"{self.section}\")")


def lost_position(trace: str | None) -> LostPosition | None:
    """The lost position a task's ``trace`` names, or None when it names none."""
    lines = [line.strip().removeprefix("Caused by:").strip() for line in (trace or "").splitlines()]
    found = [line for line in lines if _LOST.search(line)]
    if not found:
        return None
    engine = "postgres" if _POSTGRES.search(trace or "") else "mariadb"
    return LostPosition(engine=engine, cause=_CONTEXT.sub("[…]", found[0]))


__all__ = ["BINLOG_SECTION", "SLOT_SECTION", "LostPosition", "lost_position"]
