"""The lineage a canonical record carries in its Kafka headers: the source change it was made from.

``isthmus-lineage`` holds, as compact JSON, the source system, table and row key, the source commit time,
the change's log position and the CDC record (topic, partition, offset) it arrived in;
``isthmus-mapping-version`` names the mapping that shaped the record (its file and a digest of its content,
so editing a mapping changes the version by itself). When a zone-less local time of the row was repeated or
skipped by a daylight-saving change, ``isthmus-lineage`` also holds ``local_times``: per such field, the wall-clock
time, the zone, the case (``repeated`` or ``skipped``), how the mapping's ``local_times:`` policy resolved it and
the UTC instant it gave (absent when there was none, so other records' headers are unchanged). Headers rather
than fields: the canonical types are
embedded in one another (``Customer360`` holds ``SalesOrder`` and ``Invoice``), and a field added to an
embedded type would change the fingerprint of every type around it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from streams.codecs.debezium.envelope import ChangeEvent
from streams.errors import IsthmusError
from streams.flows.commands import Cause
from streams.flows.engine.api import Incoming

LINEAGE_HEADER = "isthmus-lineage"
MAPPING_VERSION_HEADER = "isthmus-mapping-version"


class LineageError(IsthmusError):
    """A canonical record's lineage headers are missing or malformed."""


def json_value(value: Any) -> Any:
    """``value`` with decimals, times and bytes as JSON text (decimals exact, bytes base64)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def key_text(key: Mapping[str, Any] | None) -> str:
    """A Debezium row key as compact JSON with sorted names (``{"invoice_id":12}``); ``""`` without one."""
    if key is None:
        return ""
    return json.dumps(json_value(dict(key)), sort_keys=True, separators=(",", ":"))


def mapping_version(path: Path) -> str:
    """``<file stem>@<first 12 hex digits of the file's SHA-256>``: changes whenever the mapping does
    (``<stem>@unversioned`` for a mapping built in memory, as tests do)."""
    if not path.is_file():
        return f"{path.stem}@unversioned"
    return f"{path.stem}@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


@dataclass(frozen=True, kw_only=True)
class Lineage:
    system: str
    table: str
    key: str
    commit_time: dt.datetime
    #: ``<connector>:<log position>:<table>:<row key>`` (:attr:`Cause.event_id`): the change, whoever re-reads it.
    change: str
    topic: str
    partition: int
    offset: int
    mapping_version: str
    #: The row's local times a DST change made repeated or skipped, as the mapping resolved them
    #: (:meth:`streams.mapping.local_times.LocalTimeNote.as_json`).
    local_times: tuple[Mapping[str, str], ...] = ()

    @classmethod
    def of(cls, event: ChangeEvent, system: str, record: Incoming, version: str,
           local_times: Iterable[Mapping[str, str]] = (), *, cause: Cause | None = None) -> Lineage:
        """``cause``: the change's :class:`Cause`, when the caller already built it (the same as
        ``Cause.of(event, system, record)``)."""
        if cause is None:
            cause = Cause.of(event, system, record)
        return cls(system=system, table=event.table or "-", key=key_text(event.key), commit_time=cause.commit_time,
                   change=cause.event_id, topic=record.topic, partition=record.partition, offset=record.offset,
                   mapping_version=version, local_times=tuple(local_times))

    def headers(self) -> dict[str, bytes]:
        body = {"system": self.system, "table": self.table, "key": self.key,
                "commit_time": self.commit_time.astimezone(dt.UTC).isoformat(), "change": self.change,
                "topic": self.topic, "partition": self.partition, "offset": self.offset}
        if self.local_times:
            body["local_times"] = [dict(note) for note in self.local_times]
        return {LINEAGE_HEADER: json.dumps(body, separators=(",", ":"), sort_keys=True).encode(),
                MAPPING_VERSION_HEADER: self.mapping_version.encode()}

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]]) -> Lineage:
        found = {name: value for name, value in headers}
        if LINEAGE_HEADER not in found or MAPPING_VERSION_HEADER not in found:
            raise LineageError(f"no {LINEAGE_HEADER} / {MAPPING_VERSION_HEADER} header: the record was not "
                               "published by an Isthmus flow that records lineage")
        try:
            body = json.loads(found[LINEAGE_HEADER])
            local_times = body.get("local_times", [])
            if not isinstance(local_times, list) or not all(isinstance(n, dict) for n in local_times):
                raise ValueError("local_times is not a list of objects")
            commit_time = dt.datetime.fromisoformat(body["commit_time"])
            if commit_time.tzinfo is None:
                raise ValueError("commit_time has no zone")
            return cls(system=str(body["system"]), table=str(body["table"]), key=str(body["key"]),
                       commit_time=commit_time, change=str(body["change"]), topic=str(body["topic"]),
                       partition=int(body["partition"]), offset=int(body["offset"]),
                       mapping_version=found[MAPPING_VERSION_HEADER].decode(),
                       local_times=tuple({str(k): str(v) for k, v in n.items()} for n in local_times))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise LineageError(f"the {LINEAGE_HEADER} header is malformed: {exc}") from exc
