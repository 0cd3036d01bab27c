"""JSON-RPC requests and replies: build a request, read a reply, map an error to a failure. Pure functions.

Version 1.0 requests hold exactly ``id``, ``method`` and ``params``: Tryton answers errors in the body (HTTP
200, ``{"error": ["UserError", [message, description, ...]]}``) only for a request of exactly those keys.
Version 2.0 adds ``"jsonrpc": "2.0"``, and its errors are ``{"code": ..., "message": ..., "data": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.sinks.adapters.jsonrpc.config import JsonRpcVersion
from streams.sinks.outcomes import Failed, answer_text

#: The error_type of a dead letter whose reply carried a JSON-RPC error.
RPC_ERROR = "RpcError"


def request(version: JsonRpcVersion, request_id: int, method: str, params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": request_id, "method": method, "params": params}
    if version == "2.0":
        body["jsonrpc"] = "2.0"
    return body


@dataclass(frozen=True, kw_only=True)
class RpcError:
    """An error reply: ``name`` (Tryton's exception name, a 2.0 error's code) and the target's message."""

    name: str
    message: str
    raw: Any

    def text(self) -> str:
        return f"{self.name}: {self.message}" if self.message and self.message != self.name else self.name


def read_error(error: Any) -> RpcError:
    """Tryton: ``["UserError", ["The code on party must be unique.", "", null]]`` or, for an unexpected
    exception, ``["'nme'", "<traceback>"]``; 2.0: ``{"code": -32602, "message": "...", "data": ...}``."""
    if isinstance(error, (list, tuple)) and error:
        name = str(error[0])
        detail = error[1] if len(error) > 1 else ""
        if isinstance(detail, (list, tuple)):
            message = " ".join(str(part) for part in detail[:2] if isinstance(part, str) and part)
        else:
            message = ""  # a traceback, not a message
        return RpcError(name=name, message=message or name, raw=error)
    if isinstance(error, Mapping):
        name = str(error.get("code", "error"))
        message = str(error.get("message") or "")
        data = error.get("data")
        if isinstance(data, Mapping) and isinstance(data.get("message"), str):
            message = f"{message}: {data['message']}" if message else data["message"]
        return RpcError(name=name, message=message or answer_text(error, 500), raw=error)
    return RpcError(name="error", message=answer_text(error, 500), raw=error)


def error_failure(error: RpcError, *, system: str, method: str, transient_names: tuple[str, ...]) -> Failed:
    """An error under HTTP 200: permanent (dead-lettered with the target's message) unless its name, or its
    message, is one of the target's ``transient_errors``."""
    transient = error.name in transient_names or error.message in transient_names
    return Failed(kind="transient" if transient else "permanent", status=200, answer={"error": error.raw},
                  error_type=RPC_ERROR, protocol_error=True,
                  reason=f"{system} answered {method} with an error{' worth retrying' if transient else ''}: "
                         f"{error.text()}")


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A successful reply's ``result``."""

    result: Any


def read_reply(answer: Any, *, system: str, method: str, transient_names: tuple[str, ...]) -> Reply | Failed:
    """A 200 reply: its result, or the failure its error means; an answer without either is permanent."""
    if isinstance(answer, Mapping):
        if answer.get("error") is not None:
            return error_failure(read_error(answer["error"]), system=system, method=method,
                                 transient_names=transient_names)
        if "result" in answer:
            return Reply(result=answer["result"])
    return Failed(kind="permanent", status=200, answer=answer, error_type="RpcReplyUnreadable", protocol_error=True,
                  reason=f"{system} answered {method} with neither result nor error: {answer_text(answer, 500)}; "
                         "check the jsonrpc url (it must be the API's JSON-RPC endpoint)")
