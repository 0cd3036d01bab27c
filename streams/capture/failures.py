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

Two other failures a restart cannot get past are named with their cause and fix (:func:`known_failure`): a change
record larger than the connector's producer may send (``RecordTooLargeException``: a row with a large TOASTed value,
connect-configs/README.md, "Large rows"), and a NOT NULL NUMERIC column holding ``'NaN'`` or an infinity, which
Debezium converts to null under ``decimal.handling.mode: precise`` and Connect then refuses (``DataException: Invalid
value: null used for required field: "amount", schema type: BYTES``; mappings/README.md, "Values a change does not
carry"). Left generic, neither says which setting or which rows, and a restart fails at the same row.
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


#: Connect's producer refusing a record over ``max.request.size``.
_TOO_LARGE = re.compile(r"RecordTooLargeException: The message is (\d+) bytes")
#: Connect refusing a null in a required field; a decimal's Connect schema type is BYTES.
_NULL_REQUIRED = re.compile(r'Invalid value: null used for required field: "([^"]+)", schema type: (\w+)')


def known_failure(trace: str | None, connector: str) -> str | None:
    """What a task's ``trace`` says went wrong and what to do, for the failures :func:`lost_position` does not
    cover but a restart cannot get past either; None when the trace is none of them."""
    text = trace or ""
    if (large := _TOO_LARGE.search(text)) is not None:
        return (f"a change record of {large.group(1)} bytes is over what the connector's producer may send (a row with "
                "a large value: a TOASTed text, a bytea); fix: raise `producer.override.max.request.size` in the "
                "connector's file and the change topics' `max.message.bytes` with it (an existing topic keeps its "
                "own: alter it), or leave the column out (column.exclude.list) or cut it "
                "(column.truncate.to.<length>.chars), then `isthmus connectors deploy "
                f"{connector}` ({README}, \"Large rows\")")
    if (null := _NULL_REQUIRED.search(text)) is not None:
        column, kind = null.groups()
        nan = (f"most likely a NUMERIC holding 'NaN' or an infinity, which Debezium sends as null under "
               f"decimal.handling.mode precise (Connect's log names the table: `Failed to properly convert data "
               f"value for '<schema>.<table>.{column}' of type numeric`); fix: set those rows of {column} to a number, "
               f"keep them out with CHECK ({column} NOT IN ('NaN', 'Infinity', '-Infinity')) (mappings/README.md, "
               "\"Values a change does not carry\"), ") if kind == "BYTES" else (
               "a value Debezium could not convert (its WARN in Connect's log names the table); fix: correct those "
               "rows, ")
        return (f"the NOT NULL column {column} of a captured table arrived as null, which Connect refuses, so the task "
                f"stops at that row and a restart stops there again: {nan}then `isthmus connectors restart {connector} "
                "--failed-only`")
    return None


__all__ = ["BINLOG_SECTION", "SCHEMA_SECTION", "SLOT_SECTION", "LostPosition", "known_failure", "lost_position"]
