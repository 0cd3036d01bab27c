"""Debezium change records placed after a transaction's commit, as a connector streams them when it resumes: the
last commit a PostgreSQL change's ``source.sequence`` names is the LSN of that transaction's END."""

from __future__ import annotations

import json


def after_commit_of(value: bytes | None, end: bytes | None) -> bytes:
    """``value`` (a PostgreSQL change) with the commit of the transaction ``end`` (its END's value) before it."""
    assert value is not None and end is not None
    last_commit = json.loads(end)["payload"]["id"].partition(":")[2]
    data = json.loads(value)
    source = data["payload"]["source"]
    own = json.loads(source["sequence"])[1]
    source["sequence"] = json.dumps([last_commit, own])
    return json.dumps(data).encode()


def as_streamed(records: list[tuple[str, bytes | None, bytes | None]], *, last_commit: int
                ) -> list[tuple[str, bytes | None, bytes | None]]:
    """One PostgreSQL transaction (changes made up by ``support.envelopes.change_record``, then their END, as
    ``support.tx_events.one_transaction`` gives them) as Debezium streams it: each event's transaction id
    ``<txId>:<its own LSN>``, the END's the LSN of the commit (after its last change), and every change's
    ``source.sequence`` naming ``last_commit``, the commit streamed before it."""
    *changes, (end_topic, end_key, end_value) = records
    out: list[tuple[str, bytes | None, bytes | None]] = []
    lsn = 0
    for topic, key, value in changes:
        assert value is not None
        data = json.loads(value)
        payload = data["payload"]
        source = payload["source"]
        lsn, tx = int(source["lsn"]), payload["transaction"]["id"].partition(":")[0]
        source["sequence"] = json.dumps([str(last_commit), str(lsn)])
        fields = next(f for f in data["schema"]["fields"] if f["field"] == "source")["fields"]
        if not any(f["field"] == "sequence" for f in fields):
            fields.append({"field": "sequence", "type": "string", "optional": True})
        payload["transaction"]["id"] = f"{tx}:{lsn}"
        out.append((topic, key, json.dumps(data).encode()))
    assert end_value is not None
    end = json.loads(end_value)
    end["payload"]["id"] = f"{end['payload']['id'].partition(':')[0]}:{lsn + 5}"
    return [*out, (end_topic, end_key, json.dumps(end).encode())]
