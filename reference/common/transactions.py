"""One database transaction per request; for writes, the idempotency record rides in the same transaction.

An endpoint hands ``Writer.run`` a function of a connection that performs the write and returns the
``Answer``. ``run`` replays a stored answer for a repeated ``Idempotency-Key`` without calling it, and
otherwise commits the write together with the stored answer, or rolls both back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from reference.common.concurrency import Precondition, etag_value, parse_if_match
from reference.common.errors import ApiError
from reference.common.idempotency import (
    HEADER,
    STATUS_HEADER,
    KeyStore,
    StoredAnswer,
    check_key,
    replay,
    request_hash,
)
from reference.common.pool import ConnectionPool

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Answer:
    status: int
    body: Any


class Dialect(Protocol[C_contra]):
    """What differs between the CRM's PostgreSQL and the ERP's MariaDB around a transaction."""

    @property
    def keys(self) -> KeyStore: ...

    def commit(self, conn: C_contra) -> None: ...

    def rollback(self, conn: C_contra) -> None: ...

    def translate(self, exc: Exception) -> ApiError | None:
        """The answer for a database error, or None for an error that is a bug."""
        ...


def respond(status: int, body: Any, key_status: str | None = None) -> Response:
    headers = {}
    tag = etag_value(body)
    if tag is not None:
        headers["ETag"] = f'"{tag}"'
    if key_status is not None:
        headers[STATUS_HEADER] = key_status
    if status == 204 or body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


class Transactions(Generic[C]):
    def __init__(self, pool: ConnectionPool[C], dialect: Dialect[C]) -> None:
        self.pool = pool
        self.dialect = dialect

    def read(self, fn: Callable[[C], T]) -> T:
        with self.pool.connection() as conn:
            try:
                return fn(conn)
            except ApiError:
                raise
            except Exception as exc:
                mapped = self.dialect.translate(exc)
                if mapped is None:
                    raise
                raise mapped from exc
            finally:
                self._end(conn)

    def write(self, request: WriteRequest, fn: Callable[[C], Answer]) -> Response:
        with self.pool.connection() as conn:
            try:
                return self._write(conn, request, fn)
            finally:
                self._end(conn)

    def _write(self, conn: C, request: WriteRequest, fn: Callable[[C], Answer]) -> Response:
        if request.key is not None:
            stored = self.dialect.keys.find(conn, request.key)
            if stored is not None:
                return self._replay(stored, request)
        try:
            answer = fn(conn)
            if request.key is not None:
                self.dialect.keys.insert(conn, request.key, StoredAnswer(
                    method=request.method, path=request.path, request_hash=request.hashed,
                    status=answer.status, body=answer.body))
            self.dialect.commit(conn)
        except ApiError:
            self.dialect.rollback(conn)
            raced = self._stored_after_failure(conn, request)
            if raced is not None:
                return self._replay(raced, request)
            raise
        except Exception as exc:
            self.dialect.rollback(conn)
            mapped = self.dialect.translate(exc)
            if mapped is None:
                raise
            raced = self._stored_after_failure(conn, request)
            if raced is not None:
                return self._replay(raced, request)
            raise mapped from exc
        return respond(answer.status, answer.body, "stored" if request.key is not None else "absent")

    def write_batch(self, items: Sequence[BatchWrite[T]],
                    fn: Callable[[C, BatchWrite[T]], Answer]) -> list[ItemAnswer]:
        """Many keyed writes in ONE database transaction, each judged as its single call would be.

        Each item is replayed from the idempotency table when its key is there; otherwise it runs under a
        savepoint, so a refused item (an ``ApiError``) is rolled back alone and answered with its error while
        the others commit. An error that is not an answer (a bug, a lost connection) rolls back all of them.
        """
        with self.pool.connection() as conn:
            try:
                stored = self.dialect.keys.find_many(conn, [i.request.key for i in items if i.request.key])
                seen: set[str] = set()
                answers = [item.refused if item.refused is not None
                           else self._write_item(conn, item, fn, stored, seen) for item in items]
                self.dialect.commit(conn)
                return answers
            except ApiError:
                self.dialect.rollback(conn)
                raise
            except Exception as exc:
                self.dialect.rollback(conn)
                mapped = self.dialect.translate(exc)
                if mapped is None:
                    raise
                raise mapped from exc
            finally:
                self._end(conn)

    def _write_item(self, conn: C, item: BatchWrite[T], fn: Callable[[C, BatchWrite[T]], Answer],
                    before: dict[str, StoredAnswer], seen: set[str]) -> ItemAnswer:
        """One item; ``before`` holds the answers stored before the batch began. A key that appears twice in
        the batch is looked up again after its first item (it may have been stored by this transaction)."""
        request = item.request
        if request.key is not None:
            stored = before.get(request.key)
            if stored is None and request.key in seen:
                stored = self.dialect.keys.find(conn, request.key)
            seen.add(request.key)
            if stored is not None:
                return self._replayed_item(stored, request)
        _sql(conn, "SAVEPOINT isthmus_item")
        try:
            answer = fn(conn, item)
            if request.key is not None:
                self.dialect.keys.insert(conn, request.key, StoredAnswer(
                    method=request.method, path=request.path, request_hash=request.hashed,
                    status=answer.status, body=answer.body))
        except Exception as exc:
            error = exc if isinstance(exc, ApiError) else self.dialect.translate(exc)
            if error is None:
                raise
            _sql(conn, "ROLLBACK TO SAVEPOINT isthmus_item")  # raises if the database aborted it all
            raced = self._stored_after_failure(conn, request)
            if raced is not None:  # an earlier try of the same key committed meanwhile (its caller timed out)
                return self._replayed_item(raced, request)
            return ItemAnswer(status=error.status, body=error.body(), key_status="refused")
        _sql(conn, "RELEASE SAVEPOINT isthmus_item")
        return ItemAnswer(status=answer.status, body=answer.body,
                          key_status="stored" if request.key is not None else "absent")

    def _replayed_item(self, stored: StoredAnswer, request: WriteRequest) -> ItemAnswer:
        try:
            self._replay(stored, request)
        except ApiError as refused:
            return ItemAnswer(status=refused.status, body=refused.body(), key_status="refused")
        return ItemAnswer(status=stored.status, body=stored.body, key_status="replayed")

    def _stored_after_failure(self, conn: C, request: WriteRequest) -> StoredAnswer | None:
        """A concurrent request with the same key may have committed while this one failed on it."""
        if request.key is None:
            return None
        try:
            return self.dialect.keys.find(conn, request.key)
        except Exception:  # the original failure is the one to report
            return None

    def _replay(self, stored: StoredAnswer, request: WriteRequest) -> Response:
        replay(stored, method=request.method, path=request.path, hashed=request.hashed)
        return respond(stored.status, stored.body, "replayed")

    def _end(self, conn: C) -> None:
        with contextlib.suppress(Exception):  # the pool closes a connection it cannot reuse
            self.dialect.rollback(conn)


def _sql(conn: Any, statement: str) -> None:
    with conn.cursor() as cur:
        cur.execute(statement)


@dataclass(frozen=True, kw_only=True)
class ItemAnswer:
    """One item's answer in a batch call: what its single call would have answered."""

    status: int
    body: Any
    key_status: str  # stored | replayed | absent | refused

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "idempotency_key_status": self.key_status}


@dataclass(frozen=True, kw_only=True)
class BatchWrite(Generic[T]):
    """One item of a batch call: the single write it stands for (method, path, key, body hash) and its
    validated value; or the answer it was refused with before the database (a bad key, an invalid body)."""

    request: WriteRequest
    value: T | None = None
    refused: ItemAnswer | None = None


@dataclass(frozen=True, kw_only=True)
class WriteRequest:
    method: str
    path: str
    key: str | None
    hashed: str
    if_match: tuple[str, ...] | None

    def precondition(self, version: int | None = None) -> Precondition:
        return Precondition(if_match=self.if_match, version=version)


async def _write_request(
    request: Request,
    idempotency_key: Annotated[str | None, Header(
        alias=HEADER,
        description="Unique per intended write. A repeat returns the first answer (status and body) without "
                    "writing again; the same key with a different body is refused with 422. Without it the "
                    "write is applied and the answer carries Idempotency-Key-Status: absent.")] = None,
    if_match: Annotated[str | None, Header(
        alias="If-Match", description='The ETag of your last read, e.g. "3"; a mismatch is refused with 412.',
    )] = None,
) -> WriteRequest:
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return WriteRequest(method=request.method, path=path, key=check_key(idempotency_key),
                        hashed=request_hash(request.method, path, body), if_match=parse_if_match(if_match))


class Writer:
    """What a write endpoint holds: the request's idempotency and precondition headers, and the database."""

    def __init__(self, request: WriteRequest, transactions: Transactions[Any]) -> None:
        self.request = request
        self.transactions = transactions

    def precondition(self, version: int | None = None) -> Precondition:
        return self.request.precondition(version)

    def run(self, fn: Callable[[Any], Answer]) -> Response:
        return self.transactions.write(self.request, fn)


async def _transactions(request: Request) -> Transactions[Any]:
    transactions: Transactions[Any] = request.app.state.transactions
    return transactions


async def _writer(write_request: Annotated[WriteRequest, Depends(_write_request)],
            transactions: Annotated[Transactions[Any], Depends(_transactions)]) -> Writer:
    return Writer(write_request, transactions)


class Reader:
    def __init__(self, transactions: Transactions[Any]) -> None:
        self.transactions = transactions

    def run(self, fn: Callable[[Any], Any]) -> Response:
        """The body ``fn`` reads, with its ETag when it is one resource."""
        return respond(200, self.transactions.read(fn))


async def _reader(transactions: Annotated[Transactions[Any], Depends(_transactions)]) -> Reader:
    return Reader(transactions)


WriterDep = Annotated[Writer, Depends(_writer)]
ReaderDep = Annotated[Reader, Depends(_reader)]
