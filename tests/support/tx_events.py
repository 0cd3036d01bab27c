"""Debezium transaction metadata for the flows' test records: the END that closes each change's own transaction
(what Connect writes on ``<prefix>.transaction`` with ``provide.transaction.metadata``), and several changes made
one transaction. In the exact shape of the captured fixtures (tests/codecs/fixtures)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "codecs" / "fixtures"

Rec = tuple[str, bytes | None, bytes | None]

_END = {system: json.loads((FIXTURES / f"{system}_transaction_end_1.json").read_text(encoding="utf-8"))
        for system in ("crm", "erp")}


def _payload(value: bytes | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None  # a malformed record (a test of dead letters): no transaction of its own
    payload: dict[str, Any] | None = data.get("payload") if isinstance(data, dict) else None
    return payload


def _collection(payload: dict[str, Any]) -> str:
    source = payload["source"]
    return f"{source.get('schema') or source['db']}.{source['table']}"


def end_of(records: Sequence[Rec]) -> Rec:
    """The END of the one transaction ``records`` (changes) make, counting them per table."""
    payloads = [p for _, _, v in records if (p := _payload(v)) is not None and p.get("transaction")]
    assert payloads, "no change with a transaction block"
    tx_id = payloads[0]["transaction"]["id"]
    counts: dict[str, int] = {}
    for payload in payloads:
        counts[_collection(payload)] = counts.get(_collection(payload), 0) + 1
    prefix = records[0][0].split(".", 1)[0]
    shape = _END.get(prefix, _END["crm"])  # a made-up system's: the same schemas, Debezium's own
    key = {"schema": shape["key"]["schema"], "payload": {"id": tx_id}}
    value = {"schema": shape["value"]["schema"], "payload": {
        "status": "END", "id": tx_id, "ts_ms": payloads[-1]["ts_ms"], "event_count": len(payloads),
        "data_collections": [{"data_collection": c, "event_count": n} for c, n in sorted(counts.items())]}}
    return f"{prefix}.transaction", json.dumps(key).encode(), json.dumps(value).encode()


def with_ends(records: Sequence[Rec]) -> list[Rec]:
    """Each change alone in its transaction, as the harness's records are: each followed by its END."""
    out: list[Rec] = []
    for record in records:
        out.append(record)
        payload = _payload(record[2])
        if payload is not None and payload.get("transaction") and not record[0].endswith(".transaction"):
            out.append(end_of([record]))
    return out


def one_transaction(records: Sequence[Rec]) -> list[Rec]:
    """``records`` (changes of one system) as one source transaction: the first one's id (made of its log
    position when it has no transaction block: a change made up by ``support.envelopes.change_record``), the
    commit time of the last (a transaction commits once), their order kept; followed by the END."""
    payloads = [_payload(v) for _, _, v in records]
    first = payloads[0]
    assert first is not None
    source = first["source"]
    tx_id = (first.get("transaction") or {}).get("id") or str(source.get("gtid") or source.get("txId"))
    last_source = payloads[-1]["source"] if payloads[-1] else first["source"]
    out: list[Rec] = []
    per_table: dict[str, int] = {}
    for order, ((topic, key, value), payload) in enumerate(zip(records, payloads, strict=True), start=1):
        assert payload is not None and value is not None
        data = json.loads(value)
        name = _collection(payload)
        per_table[name] = per_table.get(name, 0) + 1
        source = {**payload["source"], **{k: last_source[k] for k in ("ts_ms", "ts_us", "ts_ns", "txId", "gtid")
                                          if k in last_source and k in payload["source"]}}
        data["payload"] = {**payload, "source": source, "transaction": {
            "id": tx_id, "total_order": order, "data_collection_order": per_table[name]}}
        out.append((topic, key, json.dumps(data).encode()))
    return [*out, end_of(out)]
