"""Debezium's notifications of an incremental snapshot, read from the connector's sink channel, and what they mean.

A connector with ``notification.enabled.channels: sink`` writes a record to ``notification.sink.topic.name``
(every shipped connector: ``<topic.prefix>.notifications``) at each step of an incremental snapshot. Its key is
``{"id": ...}``, its value (Kafka Connect's JsonConverter) ``{"id", "aggregate_type", "type",
"additional_data", "timestamp"}``; the ``id`` is the id of the signal that asked for the snapshot. The names are
Debezium 3.x's own (``io.debezium.pipeline.notification.IncrementalSnapshotNotificationService`` and
``...channels.SinkNotificationChannel``):

- ``STARTED``, ``PAUSED``, ``RESUMED`` (``data_collections``), ``ABORTED``, ``COMPLETED``;
- ``IN_PROGRESS`` after each chunk (``current_collection_in_progress``, ``maximum_key``, ``last_processed_key``);
- ``TABLE_SCAN_COMPLETED`` per table (``scanned_collection``, ``total_rows_scanned``, ``status``: ``SUCCEEDED``,
  ``EMPTY``, ``NO_PRIMARY_KEY``, ``SKIPPED``, ``SQL_EXCEPTION``, ``UNKNOWN_SCHEMA``).

Everything here is pure: :func:`parse` reads one record's value, :class:`SnapshotFollower` turns a signal's
notifications into progress lines and, at the end, an :class:`Outcome` (what `isthmus connectors snapshot`
prints and exits with).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.capture.client import root_cause
from streams.capture.exceptions import NotificationError
from streams.capture.failures import lost_position

#: The connector options of the sink channel, and the channel's name in ``notification.enabled.channels``.
CHANNELS = "notification.enabled.channels"
SINK_TOPIC = "notification.sink.topic.name"
SINK = "sink"
#: What the shipped connectors name their notification topic after their ``topic.prefix``.
TOPIC_SUFFIX = "notifications"

#: ``aggregate_type`` of an incremental snapshot's notifications (the initial snapshot's is "Initial Snapshot").
INCREMENTAL_SNAPSHOT = "Incremental Snapshot"

STARTED, PAUSED, RESUMED, ABORTED = "STARTED", "PAUSED", "RESUMED", "ABORTED"
IN_PROGRESS, TABLE_SCAN_COMPLETED, COMPLETED = "IN_PROGRESS", "TABLE_SCAN_COMPLETED", "COMPLETED"

#: ``additional_data`` keys.
DATA_COLLECTIONS = "data_collections"
SCANNED_COLLECTION = "scanned_collection"
CURRENT_COLLECTION = "current_collection_in_progress"
MAXIMUM_KEY = "maximum_key"
LAST_PROCESSED_KEY = "last_processed_key"
TOTAL_ROWS_SCANNED = "total_rows_scanned"
STATUS = "status"

#: A table's scan statuses that leave nothing owed: it was read, or had no row to read.
SUCCEEDED, EMPTY = "SUCCEEDED", "EMPTY"
DONE = (SUCCEEDED, EMPTY)
NO_PRIMARY_KEY, SQL_EXCEPTION, UNKNOWN_SCHEMA, SKIPPED = "NO_PRIMARY_KEY", "SQL_EXCEPTION", "UNKNOWN_SCHEMA", "SKIPPED"

#: How often an IN_PROGRESS line is shown for one table (Debezium sends one per chunk, 1,024 rows by default).
PROGRESS_EVERY_MS = 5000


def notification_topic(config: Mapping[str, str]) -> str | None:
    """The topic a connector's sink channel writes to, or None when the channel is not enabled (or has no topic)."""
    channels = {c.strip() for c in config.get(CHANNELS, "").split(",")}
    topic = config.get(SINK_TOPIC, "").strip()
    return topic if SINK in channels and topic else None


def suggested_topic(config: Mapping[str, str]) -> str:
    """The notification topic the shipped connectors use: ``<topic.prefix>.notifications``, under the prefix whose
    ACLs already let Connect write and Isthmus read (streams/stack/cluster/acls.py)."""
    return f"{config.get('topic.prefix', '<topic.prefix>')}.{TOPIC_SUFFIX}"


def enable_fix(config: Mapping[str, str], where: str) -> str:
    """How to enable the sink channel of a connector whose file is ``where``."""
    return (f"set `{CHANNELS}: {SINK}` and `{SINK_TOPIC}: {suggested_topic(config)}` in {where} and deploy it "
            "(connect-configs/README.md, \"Signal tables\")")


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One Debezium notification: ``type`` is STARTED, IN_PROGRESS, ...; ``data`` its ``additional_data``."""

    id: str
    aggregate_type: str
    type: str
    data: Mapping[str, str] = field(default_factory=dict)
    timestamp_ms: int | None = None

    @property
    def incremental(self) -> bool:
        return self.aggregate_type == INCREMENTAL_SNAPSHOT


def parse(value: bytes | None) -> Notification | None:
    """A notification record's value, written by JsonConverter with or without schemas; None for a tombstone.
    Raises :class:`NotificationError` for a value that is no notification."""
    if value is None:
        return None
    try:
        document = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotificationError(f"a notification is JSON, this is not: {value[:80]!r}") from exc
    payload: Any = document
    if isinstance(document, Mapping) and "schema" in document and "payload" in document:
        payload = document["payload"]
    if not isinstance(payload, Mapping) or not all(isinstance(payload.get(k), str) for k in ("id", "type")):
        raise NotificationError(f"a notification has a text id and type, this has not: {str(payload)[:120]}")
    data = payload.get("additional_data") or {}
    timestamp = payload.get("timestamp")
    return Notification(id=payload["id"], aggregate_type=str(payload.get("aggregate_type") or ""),
                        type=payload["type"], data={str(k): str(v) for k, v in dict(data).items()},
                        timestamp_ms=int(timestamp) if isinstance(timestamp, (int, float)) else None)


@dataclass(frozen=True, kw_only=True)
class TableScan:
    """One table's scan as Debezium reported it: ``status`` SUCCEEDED, EMPTY, NO_PRIMARY_KEY, ..."""

    table: str
    status: str
    rows: int

    @property
    def done(self) -> bool:
        return self.status in DONE

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "status": self.status, "rows": self.rows}


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How a snapshot ended for `isthmus connectors snapshot`: ``state`` completed, failed, aborted, task-failed,
    timeout or requested (not followed); ``exit_code`` 0, 1 or 2; ``problem`` and ``remedy`` when it did not
    complete."""

    state: str
    exit_code: int
    scans: tuple[TableScan, ...] = ()
    problem: str | None = None
    #: What to do (``fix`` in the JSON document): not a config file's problem (streams.config_files.problem).
    remedy: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.state, "scanned": [s.to_json() for s in self.scans], "problem": self.problem,
                "fix": self.remedy}


def status_fix(status: str, table: str, *, connector: str, rerun: str) -> str:
    """What a table's failed scan means and what to do, per status; ``rerun``: the command that snapshots it."""
    if status == NO_PRIMARY_KEY:
        return (f"Debezium reads a table in chunks ordered by its primary key (else its first unique index), and "
                f"{table} has neither; fix: add a primary key, or name a unique, non-null column to order by: "
                f"`{rerun} --surrogate-key <column>` "
                f"(or set message.key.columns for {table} in {connector}'s file, which also keys its change events)")
    if status == UNKNOWN_SCHEMA:
        return (f"{connector} does not know {table}'s columns (a table that does not exist, or that it does not "
                f"capture); fix: check the name and {connector}'s table.include.list, then `{rerun}`")
    if status == SQL_EXCEPTION:
        return (f"reading {table} failed; Connect's log says why, in the database's error logged just before "
                f"`SQL error while executing incremental snapshot for table '{table}'` (that line only says it was "
                "skipped): most often the connector's user may not write its signal table (MariaDB's `INSERT command "
                "denied ... debezium_signal`, PostgreSQL's `permission denied for table debezium_signal`: Debezium "
                "writes each snapshot chunk's watermark rows there, as that user; grant it INSERT on the signal "
                "table: connect-configs/README.md, \"A MariaDB or MySQL server of your own\"), else a generated "
                "column (\"Generated columns\") or a --surrogate-key column the table lacks; fix the cause, then "
                f"`{rerun}`")
    return f"Debezium skipped {table}; Connect's log says why; fix the cause, then `{rerun}`"


def trace_summary(trace: str) -> str:
    """A Java stack trace in a line or two: its first line, and its last ``Caused by:`` (the root cause)."""
    first, cause = next((line.strip() for line in trace.splitlines() if line.strip()), None), root_cause(trace)
    return cause if first is None or cause == first else f"{first} ... Caused by: {cause}"


def matches(reported: str, table: str) -> bool:
    """Whether Debezium's name of a table (``crm.products``, or with the database first) is ``table``."""
    return reported == table or reported.endswith(f".{table}")


class SnapshotFollower:
    """The notifications of one signal (``signal_id``) for ``tables``: :meth:`feed` one at a time, each giving the
    lines to show; :attr:`outcome` is set once the snapshot completed or was aborted. ``tables``: as the signal
    named them (``<namespace>.<table>``).

    The verdict waits for COMPLETED, so every table's scan is reported, and exits 1 when any table's status is not
    SUCCEEDED or EMPTY (or a table was never reported). A signal that joins a snapshot already running takes it
    over: the tables still to read from the earlier one are reported under this id too, and are shown, not judged.
    """

    def __init__(self, signal_id: str, tables: Sequence[str], *, connector: str) -> None:
        self.signal_id, self.tables, self.connector = signal_id, tuple(tables), connector
        self.scans: dict[str, TableScan] = {}
        self.outcome: Outcome | None = None
        self._shown: dict[str, int] = {}

    def feed(self, notification: Notification) -> list[str]:
        if notification.id != self.signal_id or not notification.incremental or self.outcome is not None:
            return []
        kind, data = notification.type, notification.data
        if kind == STARTED:
            return [f"started: {data.get(DATA_COLLECTIONS, ', '.join(self.tables))}"]
        if kind == IN_PROGRESS:
            return self._progress(notification)
        if kind == TABLE_SCAN_COMPLETED:
            return self._scanned(data)
        if kind == PAUSED:
            return ["paused (a pause-snapshot signal); it goes on after a resume-snapshot signal"]
        if kind == RESUMED:
            return ["resumed"]
        if kind == ABORTED:
            stopped = data.get(DATA_COLLECTIONS) or ", ".join(t for t in self.tables if t not in self._judged())
            self.outcome = Outcome(
                state="aborted", exit_code=1, scans=self._ours(),
                problem=f"the snapshot was aborted (a stop-snapshot signal) before it read {stopped}",
                remedy=f"run it again: `{self.rerun(self.tables)}`")
            return [f"aborted: {stopped}"]
        if kind == COMPLETED:
            self.outcome = self._verdict()
            return []
        return []

    def _progress(self, notification: Notification) -> list[str]:
        data = notification.data
        table = data.get(CURRENT_COLLECTION, "?")
        at = notification.timestamp_ms or 0
        last = self._shown.get(table)
        if last is not None and at - last < PROGRESS_EVERY_MS:
            return []
        self._shown[table] = at
        return [f"{table}: reading, at key {data.get(LAST_PROCESSED_KEY, '?')} of {data.get(MAXIMUM_KEY, '?')}"]

    def _scanned(self, data: Mapping[str, str]) -> list[str]:
        table = data.get(SCANNED_COLLECTION, "?")
        try:
            rows = int(data.get(TOTAL_ROWS_SCANNED, "0"))
        except ValueError:
            rows = 0
        scan = TableScan(table=table, status=data.get(STATUS, "?"), rows=rows)
        self.scans[table] = scan
        return [f"{table}: {rows} row(s) read, {scan.status}"]

    def _judged(self) -> dict[str, TableScan]:
        """Each requested table's scan, under the requested name."""
        return {t: dataclasses.replace(s, table=t) for t in self.tables for name, s in self.scans.items()
                if matches(name, t)}

    def _ours(self) -> tuple[TableScan, ...]:
        judged = self._judged()
        return tuple(judged[t] for t in self.tables if t in judged)

    def _verdict(self) -> Outcome:
        judged = self._judged()
        failed = [(t, judged[t]) for t in self.tables if t in judged and not judged[t].done]
        missing = [t for t in self.tables if t not in judged]
        if not failed and not missing:
            return Outcome(state="completed", exit_code=0, scans=self._ours())
        problems = [f"{t}: {scan.status}" for t, scan in failed]
        problems += [f"{t}: not reported (Debezium sent no scan of it under this signal)" for t in missing]
        fixes = [status_fix(scan.status, t, connector=self.connector, rerun=self.rerun([t])) for t, scan in failed]
        if missing:
            fixes.append(f"Connect's log says what became of {', '.join(missing)}; then `{self.rerun(missing)}`")
        return Outcome(state="failed", exit_code=1, scans=self._ours(), problem="; ".join(problems),
                       remedy="; ".join(fixes))

    def rerun(self, tables: Sequence[str]) -> str:
        """The command that snapshots ``tables`` again."""
        return f"isthmus connectors snapshot {self.connector} --tables {','.join(tables)}"

    def task_failed(self, failures: Sequence[tuple[str, str]]) -> Outcome:
        """The outcome when the connector or a task went FAILED meanwhile (``(what, trace)`` each)."""
        lost = next((found for _, trace in failures if (found := lost_position(trace)) is not None), None)
        remedy = (f"{lost.what}: {lost.recovery(self.connector)}" if lost is not None else
                  f"`isthmus connectors status {self.connector}` shows the whole trace; fix its cause, then "
                  f"`isthmus connectors restart {self.connector} --failed-only`: the task goes on with the snapshot "
                  "where its offsets say")
        self.outcome = Outcome(
            state="task-failed", exit_code=1, scans=self._ours(),
            problem="; ".join(f"{self.connector} {what} FAILED: {trace_summary(trace)}" for what, trace in failures),
            remedy=remedy)
        return self.outcome

    def timed_out(self, seconds: float, topic: str) -> Outcome:
        """The outcome when no COMPLETED came within ``seconds``: the snapshot may still run."""
        self.outcome = Outcome(
            state="timeout", exit_code=2, scans=self._ours(),
            problem=f"no end of the snapshot within {seconds:.0f}s; it may still be running",
            remedy=(f"follow it with `isthmus topics tail {topic} --follow --key {self.signal_id}`, or wait longer "
                 f"(--timeout); `isthmus connectors status {self.connector}` shows whether the task runs"))
        return self.outcome


__all__ = ["Notification", "Outcome", "SnapshotFollower", "TableScan", "enable_fix", "notification_topic", "parse",
           "status_fix", "suggested_topic", "trace_summary"]
