"""Every 4xx and 5xx answer is JSON ``{"error": what, "field": where, "fix": what to do}``.

``ApiError`` is raised anywhere below an endpoint; the handlers installed by ``install`` turn it, request
validation failures and unknown routes into that shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response


class ApiError(Exception):
    """An answer other than success, with the field it is about and how to fix the request."""

    def __init__(self, status: int, error: str, *, field: str | None = None, fix: str = "",
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field
        self.fix = fix
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "field": self.field, "fix": self.fix, **self.extra}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def statement_refused(system: str, message: str) -> ApiError:
    """500: the database is reachable but refuses the statement for a reason no retry changes (an unknown column
    or table: its schema is not the one the API was written for), with the database's own message."""
    return ApiError(500, f"the {system} database refused the statement: {message}", field="database",
                    fix=f"the {system} database's schema does not match the API's (a column or table dropped or "
                        "renamed?): restore it, then send the request again")


def not_found(what: str, field: str, value: object) -> ApiError:
    return ApiError(404, f"no {what} with {field} {value!r}", field=field,
                    fix=f"check {field}, or list the {what}s to find it")


def field_path(loc: Sequence[str | int]) -> str:
    """``("body", "lines", 0, "sku")`` -> ``lines[0].sku``; ``("query", "limit")`` -> ``limit``."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header", "cookie") else list(loc)
    if not parts:
        return str(loc[0]) if loc else "body"
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


_FIXES = {
    "missing": "add {field}",
    "extra_forbidden": "remove {field}: it is not a field of this request (see /openapi.json)",
    "string_pattern_mismatch": "make {field} match {pattern}",
    "decimal_max_places": "send {field} with at most {decimal_places} decimal places, as a string or number",
    "decimal_max_digits": "send {field} with at most {max_digits} digits",
    "literal_error": "set {field} to one of {expected}",
    "enum": "set {field} to one of {expected}",
    "timezone_aware": "give {field} an offset, e.g. 2024-05-01T09:30:00+08:00",
}


def _fix_for(error: Mapping[str, Any], field: str) -> str:
    ctx = {str(k): v for k, v in (error.get("ctx") or {}).items()}
    template = _FIXES.get(str(error.get("type")))
    if template:
        try:
            return template.format(field=field, **ctx)
        except (KeyError, IndexError):
            pass
    return f"correct {field}: {error.get('msg', 'invalid value')} (see /openapi.json)"


def validation_body(errors: Sequence[Mapping[str, Any]]) -> tuple[int, dict[str, Any]]:
    """The status and body for pydantic/FastAPI validation errors: the first error leads, all are listed."""
    described = []
    for error in errors:
        field = field_path(tuple(error.get("loc", ())))
        message = str(error.get("msg", "invalid"))
        described.append({"field": field, "error": message, "fix": _fix_for(error, field)})
    if not described:
        return 422, {"error": "invalid request", "field": None, "fix": "see /openapi.json", "errors": []}
    first = errors[0]
    if first.get("type") == "json_invalid":
        return 400, {"error": "the body is not valid JSON", "field": "body",
                     "fix": "send a JSON object with Content-Type: application/json", "errors": described}
    lead = described[0]
    return 422, {"error": f"{lead['field']}: {lead['error']}", "field": lead["field"], "fix": lead["fix"],
                 "errors": described}


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    status, body = validation_body(list(exc.errors()))
    return JSONResponse(body, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    body: dict[str, Any]
    if exc.status_code == 404:
        body = {"error": f"no route {request.method} {request.url.path}", "field": "path",
                "fix": "see /openapi.json for the routes"}
    elif exc.status_code == 405:
        body = {"error": f"{request.method} is not allowed on {request.url.path}", "field": "method",
                "fix": "see /openapi.json for the methods of this route"}
    else:
        body = {"error": str(exc.detail), "field": None, "fix": "see /openapi.json"}
    return JSONResponse(body, status_code=exc.status_code, headers=dict(exc.headers or {}))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "field", "fix"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong"},
        "field": {"type": ["string", "null"], "description": "the field, header or parameter at fault"},
        "fix": {"type": "string", "description": "what to change in the request"},
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error answers of a route."""
    return {status: {"description": "error", "content": {"application/json": {"schema": ERROR_SCHEMA}}}
            for status in statuses}
