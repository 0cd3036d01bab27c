"""What the dashboard shows, read from the real services: Connect's REST API, Kafka's admin client and topics.

Every function here blocks (kafka-python, httpx); the web app calls them in a thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError

from streams.capture.client import ConnectClient, ConnectorState
from streams.capture.exceptions import ConnectError
from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaAddress
from streams.inspect import admin, health
from streams.inspect.decoding import Decoded, decode_record, masked
from streams.inspect.masking import PiiCatalog
from streams.inspect.reader import StartAt, read, read_spans

#: Offsets read back from the end of each partition of a connector's topics for its newest record (an exactly-once
#: task ends each transaction with a marker, which takes an offset and is no record).
CAPTURE_OFFSETS = 4
#: Debezium's default ``topic.heartbeat.prefix``.
HEARTBEAT_PREFIX = "__debezium-heartbeat"

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


def captures(bootstrap: KafkaAddress, connect_url: str, names: Iterable[str], *, existing: set[str] | None = None,
             **http_options: Any) -> dict[str, health.Capture]:
    """Each connector of ``names``'s signs of life (:class:`health.Capture`): the newest record of its heartbeat topic
    and of the topics under its ``topic.prefix`` (changes, transactions, notifications: a snapshot sends no heartbeat),
    read from the last :data:`CAPTURE_OFFSETS` offsets of each partition. ``existing``: the cluster's topics, when
    known; ``http_options``: as :func:`connector_states`'s."""
    chosen = list(names)
    if not chosen:
        return {}
    try:
        with ConnectClient(connect_url, timeout=5.0, **http_options) as client:
            configs = {name: client.get_config(name) for name in chosen}
    except ConnectError as exc:
        return {name: health.Capture(connector=name, topic="?", interval_s=None, checked_ms=_now_ms(),
                                     error=str(exc)) for name in chosen}
    return newest_records(bootstrap, configs, existing=existing)


def newest_records(bootstrap: KafkaAddress, configs: Mapping[str, Mapping[str, str]], *,
                   existing: set[str] | None = None) -> dict[str, health.Capture]:
    """:func:`captures` of connectors with these deployed ``configs``."""
    topics_of: dict[str, list[str]] = {}
    try:
        existing = existing if existing is not None else admin.topic_names(bootstrap)
        for name, config in configs.items():
            prefix = config.get("topic.prefix", "")
            heartbeat = f"{config.get('topic.heartbeat.prefix', HEARTBEAT_PREFIX)}.{prefix}"
            topics_of[name] = [heartbeat, *sorted(t for t in existing if prefix and t.startswith(prefix + "."))]
        read_from = sorted({t for topics in topics_of.values() for t in topics if t in existing})
        described = admin.topics(bootstrap, read_from, config_keys=()) if read_from else []
        spans = {(t.name, p.partition): (max(p.begin, p.end - CAPTURE_OFFSETS), p.end)
                 for t in described for p in t.partitions if p.messages}
        newest: dict[str, int] = {}
        for record in read_spans(bootstrap, spans):
            if record.timestamp_ms is not None:
                newest[record.topic] = max(newest.get(record.topic, record.timestamp_ms), record.timestamp_ms)
        error = None
    except KafkaError as exc:
        newest, error = {}, f"{type(exc).__name__}: {exc}"
    checked_ms = _now_ms()
    found: dict[str, health.Capture] = {}
    for name, config in configs.items():
        interval_ms = int(config.get("heartbeat.interval.ms") or 0)
        times = [newest[t] for t in topics_of.get(name, ()) if t in newest]
        heartbeat = topics_of.get(name, ["?"])[0]
        unseen = None if error or interval_ms <= 0 or existing is None or heartbeat in existing else (
            f"its heartbeat topic {heartbeat} is not among the topics this principal may describe: not written yet, "
            f"or not granted (grant Describe and Read on the topic prefix {heartbeat.rsplit('.', 1)[0]}., README "
            '"ACLs the principal needs"); the capture is not judged without it')
        found[name] = health.Capture(connector=name, topic=heartbeat,
                                     interval_s=interval_ms / 1000 if interval_ms > 0 else None,
                                     checked_ms=checked_ms, last_ms=max(times) if times else None,
                                     error=error or unseen)
    return found


def _now_ms() -> int:
    return int(time.time() * 1000)


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
