"""Batch endpoints: many writes of one kind in one call and one database transaction, each item answered as
its single call would be (cf. Salesforce's composite and bulk APIs).

The request is ``{"items": [{"idempotency_key": K, <path fields>, <body fields>}, ...]}``; the answer, always
200 when the call itself was understood, is ``{"results": [{"status", "body", "idempotency_key_status"}, ...]}``
in the order of the items. An item stands for its single call (method, path and body): its key is stored
with the same request hash, so the same key sent once through the single endpoint and once in a batch is
applied once and the second gets the first answer (``replayed``), and a refused item changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from reference.common.errors import ApiError, validation_body
from reference.common.idempotency import check_key, request_hash
from reference.common.transactions import BatchWrite, ItemAnswer, Transactions, WriteRequest

#: Items per call: enough to carry a busy second of changes, small enough to keep one transaction short.
MAX_ITEMS = 500
KEY_FIELD = "idempotency_key"

M = TypeVar("M", bound=BaseModel)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_ITEMS,
                                                 description=f"up to {MAX_ITEMS} items; each holds "
                                                             f"'{KEY_FIELD}' and the single call's fields")]


def _refused(request: WriteRequest, error: ApiError) -> BatchWrite[Any]:
    return BatchWrite(request=request, refused=ItemAnswer(status=error.status, body=error.body(),
                                                          key_status="refused"))


def prepare(raw: dict[str, Any], *, method: str, path: Callable[[dict[str, Any]], str],
            model: type[M]) -> BatchWrite[M]:
    """One item as the single call it stands for: ``path`` takes (pops) the path fields and gives the path;
    what is left is the body, validated by ``model``. A bad key or body is refused here, before the database."""
    fields = dict(raw)
    key_value = fields.pop(KEY_FIELD, None)
    try:
        where = path(fields)
    except ApiError as error:
        return _refused(WriteRequest(method=method, path="", key=None, hashed="", if_match=None), error)
    body = json.dumps(fields, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    request = WriteRequest(method=method, path=where, key=None, hashed=request_hash(method, where, body),
                           if_match=None)
    try:
        key = check_key(key_value if isinstance(key_value, str) or key_value is None else str(key_value))
        request = WriteRequest(method=method, path=where, key=key, hashed=request.hashed, if_match=None)
        value = model.model_validate(fields)
    except ApiError as error:
        return _refused(request, error)
    except ValidationError as invalid:
        status, answer = validation_body(list(invalid.errors()))
        return BatchWrite(request=request, refused=ItemAnswer(status=status, body=answer, key_status="refused"))
    return BatchWrite(request=request, value=value)


def path_field(fields: dict[str, Any], name: str, pattern: re.Pattern[str], example: str) -> str:
    """Take a path field out of an item: it must be a string the single route's path accepts."""
    value = fields.pop(name, None)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ApiError(422, f"{name} {value!r} is missing or not valid", field=name,
                       fix=f"give {name} as in the single call's path, e.g. {example}")
    return value


def answer(results: list[ItemAnswer]) -> Response:
    """The batch call's answer: 200 with every item's own answer, in order."""
    return JSONResponse({"results": [r.as_json() for r in results]})


async def _transactions(request: Request) -> Transactions[Any]:
    transactions: Transactions[Any] = request.app.state.transactions
    return transactions


TransactionsDep = Annotated[Transactions[Any], Depends(_transactions)]
