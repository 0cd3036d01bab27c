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
