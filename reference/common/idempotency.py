"""``Idempotency-Key``: the first successful answer to a keyed write is stored in the system's own
``idempotency_keys`` table, in the same transaction as the write, and a repeat gets it back.

A repeat is recognised by its request hash: method, path and the body in canonical JSON (keys sorted,
whitespace dropped), so a client that re-serialises the same body still matches. Only successful (2xx)
answers are stored: a refused write changed nothing, so its retry is judged afresh.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from reference.common.errors import ApiError

HEADER = "Idempotency-Key"
STATUS_HEADER = "Idempotency-Key-Status"
MAX_KEY_LENGTH = 200


def canonical_body(body: bytes) -> bytes:
    if not body.strip():
        return b""
    try:
        value = json.loads(body, parse_float=Decimal)
    except ValueError:
        return body
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method.upper()}\n{path}\n".encode())
    digest.update(canonical_body(body))
    return digest.hexdigest()


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ApiError(400, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                       field=HEADER, fix="send a unique key per intended write, e.g. a UUID")
    return key


@dataclass(frozen=True, kw_only=True)
class StoredAnswer:
    method: str
    path: str
    request_hash: str
    status: int
    body: Any


def replay(stored: StoredAnswer, *, method: str, path: str, hashed: str) -> StoredAnswer:
    """The stored answer if this request repeats the one it answered; 422 if the key was used for another."""
    if stored.method != method.upper() or stored.path != path:
        raise ApiError(422, f"{HEADER} was already used for {stored.method} {stored.path}", field=HEADER,
                       fix="use a new key for a different request")
    if stored.request_hash != hashed:
        raise ApiError(422, f"{HEADER} was already used with a different body", field=HEADER,
                       fix="resend the original body, or use a new key for a different write")
    return stored


class KeyStore(Protocol):
    """The SQL for the ``idempotency_keys`` table in one database dialect."""

    def find(self, conn: Any, key: str) -> StoredAnswer | None: ...

    def find_many(self, conn: Any, keys: list[str]) -> dict[str, StoredAnswer]:
        """The stored answers of those of ``keys`` that have one (one query, for a batch)."""
        ...

    def insert(self, conn: Any, key: str, answer: StoredAnswer) -> None: ...


_COLUMNS = "idem_key, method, path, request_hash, status_code, response"


def _stored(row: Any, body: Any) -> StoredAnswer:
    return StoredAnswer(method=row["method"], path=row["path"], request_hash=row["request_hash"],
                        status=row["status_code"], body=body)


class PostgresKeys:
    def find_many(self, conn: Any, keys: list[str]) -> dict[str, StoredAnswer]:
        if not keys:
            return {}
        rows = conn.execute(f"SELECT {_COLUMNS} FROM idempotency_keys WHERE idem_key = ANY(%s)", (keys,)).fetchall()
        return {row["idem_key"]: _stored(row, row["response"]) for row in rows}

    def find(self, conn: Any, key: str) -> StoredAnswer | None:
        row = conn.execute(
            "SELECT method, path, request_hash, status_code, response FROM idempotency_keys "
            "WHERE idem_key = %s",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return StoredAnswer(method=row["method"], path=row["path"], request_hash=row["request_hash"],
                            status=row["status_code"], body=row["response"])

    def insert(self, conn: Any, key: str, answer: StoredAnswer) -> None:
        conn.execute(
            "INSERT INTO idempotency_keys (idem_key, method, path, request_hash, status_code, response) "
            "VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
            (key, answer.method, answer.path, answer.request_hash, answer.status, json.dumps(answer.body)),
        )


class MariaDbKeys:
    def find_many(self, conn: Any, keys: list[str]) -> dict[str, StoredAnswer]:
        if not keys:
            return {}
        with conn.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM idempotency_keys WHERE idem_key IN "
                        f"({', '.join(['%s'] * len(keys))})", tuple(keys))
            rows = cur.fetchall()
        return {row["idem_key"]: _stored(row, json.loads(row["response"])) for row in rows}

    def find(self, conn: Any, key: str) -> StoredAnswer | None:
        with conn.cursor() as cur:
            cur.execute("SELECT method, path, request_hash, status_code, response FROM idempotency_keys "
                        "WHERE idem_key = %s", (key,))
            row = cur.fetchone()
        if row is None:
            return None
        return StoredAnswer(method=row["method"], path=row["path"], request_hash=row["request_hash"],
                            status=row["status_code"], body=json.loads(row["response"]))

    def insert(self, conn: Any, key: str, answer: StoredAnswer) -> None:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO idempotency_keys (idem_key, method, path, request_hash, status_code, response) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (key, answer.method, answer.path, answer.request_hash, answer.status,
                 json.dumps(answer.body)),
            )
