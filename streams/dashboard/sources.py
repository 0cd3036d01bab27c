"""What the dashboard shows, read from the real services: Connect's REST API, Kafka's admin client and topics.

Every function here blocks (kafka-python, httpx); the web app calls them in a thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streams.capture.client import ConnectClient, ConnectorState
from streams.capture.exceptions import ConnectError
from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaAddress
from streams.inspect import admin
from streams.inspect.decoding import Decoded, decode_record, masked
from streams.inspect.masking import PiiCatalog
from streams.inspect.reader import StartAt, read

#: Hold records read back from each partition of the holds topic's end to tell the documents held now (the latest
#: record of a key is its state): a bounded read, whatever the topic's size.
HOLD_RECORDS = 200


@dataclass(frozen=True, kw_only=True)
class Counts:
    """Records per topic (end offsets summed) and consumed per consumer group, with each group's lag."""

    topics: dict[str, int]
    consumed: dict[str, int]
    lag: dict[str, int]
    lag_by_topic: dict[tuple[str, str], int]


def connectors(connect_url: str, **http_options: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Each connector's state and tasks, or an empty list and why Connect could not answer; ``http_options``: as
    :func:`connector_states`'s."""
    found, problem = connector_states(connect_url, **http_options)
    return [state.to_json() for state in found], problem


def connector_states(connect_url: str, **http_options: Any) -> tuple[list[ConnectorState], str | None]:
    """:func:`connectors` as :class:`ConnectorState`; ``http_options``: the REST API's basic auth and TLS
    (:meth:`streams.config.connect.ConnectSettings.http_options`)."""
    try:
        with ConnectClient(connect_url, timeout=5.0, **http_options) as client:
            return [client.status(name) for name in client.connectors()], None
    except ConnectError as exc:
        return [], str(exc)


def counts(bootstrap: KafkaAddress) -> Counts:
    topics = {t.name: sum(p.end for p in t.partitions) for t in admin.topics(bootstrap, config_keys=())}
    consumed: dict[str, int] = {}
    lag: dict[str, int] = {}
    rows = admin.lag(bootstrap)
    for row in rows:
        consumed[row.group] = consumed.get(row.group, 0) + (row.committed or 0)
        lag[row.group] = lag.get(row.group, 0) + (row.lag or 0)
    return Counts(topics=topics, consumed=consumed, lag=lag, lag_by_topic=admin.lag_by_topic(rows))


def _shown(record: Decoded, catalog: PiiCatalog, *, show_pii: bool) -> dict[str, Any]:
    shown = record if show_pii else masked(record, catalog)
    return {"topic": record.raw.topic, "partition": record.raw.partition, "offset": record.raw.offset,
            "timestamp_ms": record.raw.timestamp_ms, "key": shown.key_text, "schema": record.schema,
            "value": shown.value}


def latest(bootstrap: KafkaAddress, topic: str, store: SchemaStore, catalog: PiiCatalog, *, count: int,
           show_pii: bool) -> list[dict[str, Any]]:
    """The last ``count`` records of each partition of ``topic``, newest first; none when it does not exist."""
    if topic not in _existing(bootstrap):
        return []
    found = [_shown(decode_record(raw, store), catalog, show_pii=show_pii)
             for raw in read(bootstrap, [topic], StartAt(last=count))]
    found.sort(key=lambda r: (r["timestamp_ms"] or 0, r["offset"]), reverse=True)
    return found[:count]


def look_up(bootstrap: KafkaAddress, topic: str, key: str, store: SchemaStore, catalog: PiiCatalog, *,
            show_pii: bool) -> dict[str, Any] | None:
    """The latest value of ``key`` in the compacted ``topic`` (None when absent or deleted)."""
    if topic not in _existing(bootstrap):
        return None
    last: Decoded | None = None
    for raw in read(bootstrap, [topic], StartAt(beginning=True)):
        record = decode_record(raw, store)
        if record.key_text == key:
            last = record
    if last is None or last.kind == "tombstone":
        return None
    return _shown(last, catalog, show_pii=show_pii)


def _existing(bootstrap: KafkaAddress) -> set[str]:
    return admin.topic_names(bootstrap)


def held_now(recent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents whose latest Hold record (of ``recent``, newest first) says held: what is stuck, and why."""
    latest: dict[str, dict[str, Any]] = {}
    for record in recent:
        latest.setdefault(str(record.get("key")), record)
    # a value that is not a decoded record (bytes of a schema this dashboard does not know) holds nothing it can show
    return [r for r in latest.values() if isinstance(r.get("value"), dict) and r["value"].get("state") == "held"]


def group_rows(data: Counts, rates: dict[str, float]) -> list[dict[str, Any]]:
    return [{"group": group, "consumed": data.consumed[group], "per_second": round(rates.get(group, 0.0), 2),
             "lag": data.lag.get(group, 0)} for group in sorted(data.consumed)]


def topic_rows(data: Counts, rates: dict[str, float], only: Sequence[str] | None = None) -> list[dict[str, Any]]:
    names = sorted(data.topics) if only is None else [n for n in only if n in data.topics]
    return [{"topic": name, "records": data.topics[name], "per_second": round(rates.get(name, 0.0), 2)}
            for name in names]
