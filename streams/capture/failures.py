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


#: Debezium's binlog reader finding fewer (or more) columns in a row event than its schema of the table holds.
_ROW_SIZE = re.compile(r"Error processing row in (\S+), internal schema size (\d+), but row size (\d+)")
#: Debezium's binlog task refusing the server's binlog settings at start.
_SERVER_SETTING = re.compile(r"not configured to use a (ROW binlog_format|FULL binlog_row_image)")
#: An offset with no binlog file: the first snapshot failed before it recorded a position.
_NO_POSITION = re.compile(r"Source offset 'file' parameter is missing")
#: The database refusing the connector's user a privilege (MariaDB/MySQL's words, and Debezium's for LOCK TABLES).
_PRIVILEGE = re.compile(r"you need \(at least one of\) the ([A-Z ,]+?) privilege|"
                        r"User does not have the '([A-Z ]+)' privilege|"
                        r"([A-Z ]+) command denied to user '[^']*'@'[^']*' for table (\S+)")
#: Where the settings and grants a MariaDB/MySQL server needs are listed.
SERVER_SECTION = "A MariaDB or MySQL server of your own"

#: Connect's producer refusing a record over ``max.request.size``.
_TOO_LARGE = re.compile(r"RecordTooLargeException: The message is (\d+) bytes")
#: Connect refusing a null in a required field; a decimal's Connect schema type is BYTES.
_NULL_REQUIRED = re.compile(r'Invalid value: null used for required field: "([^"]+)", schema type: (\w+)')


def known_failure(trace: str | None, connector: str) -> str | None:
    """What a task's ``trace`` says went wrong and what to do, for the failures :func:`lost_position` does not
    cover but a restart cannot get past either; None when the trace is none of them."""
    text = trace or ""
    if (hint := _binlog_failure(text, connector)) is not None:
        return hint
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


def _binlog_failure(text: str, connector: str) -> str | None:
    """What a binlog (MariaDB/MySQL) task's failure that names the server's settings, the user's grants or an offset
    without a position means, and what to do; None for any other."""
    reset = f"`isthmus connectors offsets {connector} --reset`"
    where = f'({README}, "{SERVER_SECTION}")'
    if _NO_POSITION.search(text):
        return ("the connector's stored offsets hold no binlog position: its first snapshot failed before it "
                "recorded one (Debezium then stores an empty offset, `isthmus connectors offsets "
                f"{connector}` shows `{{}}`), so every restart fails here; fix: correct what failed the snapshot (the "
                f"task's earlier failure: a privilege, a server setting), then run {reset}, which starts the snapshot "
                f"over {where}")
    if (row := _ROW_SIZE.search(text)) is not None:
        table, schema_size, row_size = row.groups()
        return (f"a binlog row event of {table} carries {row_size} column(s) where the table has {schema_size}: "
                "most likely a session wrote it with `binlog_row_image` MINIMAL or NOBLOB (a setting each session "
                "may change, so the server's FULL did not stop it), or the schema history lacks a change of the "
                "table's columns; a restart meets the same event and fails again. Fix: have every writer log full "
                "row images (`binlog_row_image=FULL` in the server's options file and globally, and no application "
                f"setting it per session), then run {reset}, which snapshots every captured table again and reads "
                f"on from the server's current position; the changes made meanwhile arrive as the rows' current "
                f"state {where}")
    if (setting := _SERVER_SETTING.search(text)) is not None:
        wanted = "binlog_format=ROW" if setting.group(1).startswith("ROW") else "binlog_row_image=FULL"
        return (f"the database server is not set as a binlog connector needs: it wants {wanted}, a setting of the "
                "server, not of the connector's file; fix: set it in the server's options file and globally "
                f"(`SET GLOBAL {wanted}`; sessions opened before keep their own), then `isthmus connectors restart "
                f"{connector} --failed-only` {where}")
    if (denied := _PRIVILEGE.search(text)) is not None:
        privilege = next(group for group in denied.groups()[:3] if group)
        on = f" ON {denied.group(4)}" if denied.group(4) else ""
        return (f"the database refuses the connector's user the {privilege.strip()} privilege{on}; fix: grant it "
                f"to the user of the connector's `database.user` (the full list of what a capture user needs is in "
                f"{README}, \"{SERVER_SECTION}\"), then `isthmus connectors restart {connector} --failed-only`; if "
                "the task failed during its first snapshot, the restart fails on `Source offset 'file' parameter is "
                f"missing`: run {reset} instead")
    return None


__all__ = ["BINLOG_SECTION", "SCHEMA_SECTION", "SERVER_SECTION", "SLOT_SECTION", "LostPosition", "known_failure",
           "lost_position"]
