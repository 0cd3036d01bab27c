"""Formatting decoded records and topic facts: one table line, one JSON line, or the raw bytes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from streams.inspect.admin import LagRow, TopicInfo
from streams.inspect.decoding import Decoded, key_label, summary
from streams.inspect.seek import format_ms

OUTPUTS = ("table", "json", "raw")


def record_document(record: Decoded) -> dict[str, Any]:
    raw = record.raw
    document: dict[str, Any] = {
        "topic": raw.topic, "partition": raw.partition, "offset": raw.offset, "time": format_ms(raw.timestamp_ms),
        "timestamp_ms": raw.timestamp_ms, "key": record.key, "kind": record.kind, "schema": record.schema,
        "headers": {k: _header(v) for k, v in raw.headers}, "summary": summary(record), "value": record.value,
    }
    if record.error:
        document["decode_error"] = record.error
    return document


def _header(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        return "0x" + value.hex()


def json_line(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=False, default=str)


def table_line(record: Decoded) -> str:
    """The record on one line; one that did not decode (a schema fingerprint this side does not know: a newer
    writer's) on a second line that says why and the fix, as ``--json``'s ``decode_error`` does."""
    raw = record.raw
    composite = isinstance(record.key, Mapping) and len(record.key) > 1
    key = (key_label(record.key) if composite else record.key_text) or "-"  # a composite key by its columns
    key = key if len(key) <= 48 else key[:47] + "…"
    line = f"{format_ms(raw.timestamp_ms)}  {raw.topic}  {raw.partition}@{raw.offset:<6} {key:<24} {summary(record)}"
    return f"{line}\n    not decoded: {record.error}" if record.error else line


def raw_line(record: Decoded) -> str:
    """Key and value as written (text, or ``0x`` hex for binary), tab-separated."""
    return f"{_header(record.raw.key) or ''}\t{_header(record.raw.value) or ''}"


def topic_document(topic: TopicInfo) -> dict[str, Any]:
    return {"topic": topic.name, "internal": topic.internal, "partitions": len(topic.partitions),
            "messages": topic.messages, "cleanup_policy": topic.config.get("cleanup.policy"),
            "retention_ms": topic.config.get("retention.ms")}


def retention(ms: str | None) -> str:
    if ms is None:
        return "-"
    if ms == "-1":
        return "forever"
    seconds = int(ms) // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def topic_line(topic: TopicInfo, width: int) -> str:
    return (f"{topic.name:<{width}}  {len(topic.partitions):>3}  {topic.messages:>10}  "
            f"{topic.config.get('cleanup.policy', '-'):<14} {retention(topic.config.get('retention.ms'))}")


def describe_document(topic: TopicInfo) -> dict[str, Any]:
    return {"topic": topic.name, "internal": topic.internal, "messages": topic.messages,
            "partitions": [{"partition": p.partition, "leader": p.leader, "replicas": list(p.replicas),
                            "isr": list(p.isr), "begin": p.begin, "end": p.end, "messages": p.messages}
                           for p in topic.partitions],
            "config": topic.config}


def lag_document(row: LagRow) -> dict[str, Any]:
    return {"group": row.group, "topic": row.topic, "partition": row.partition, "committed": row.committed,
            "end": row.end, "lag": row.lag}


__all__ = ["OUTPUTS", "describe_document", "json_line", "lag_document", "raw_line", "record_document",
           "retention", "table_line", "topic_document", "topic_line"]
