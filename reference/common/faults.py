"""The fault switch: tests tell an app to fail its next writes, so they can prove what a client does then.

Off by default and reachable from loopback only. One plan is active at a time (``POST /_faults`` replaces
it, ``DELETE /_faults`` clears it, ``GET /_faults`` shows it):

- ``error``: the next ``count`` writes answer ``status`` (5xx). With ``phase: before`` (the default) the
  write is not applied; with ``phase: after`` it is applied and committed, and the answer is lost.
- ``throttle``: the next ``count`` writes answer 429 with ``Retry-After: retry_after`` and are not applied.
- ``latency``: the next ``count`` writes are held ``ms`` milliseconds, then applied normally.
- ``outage``: for ``seconds``, every request but ``/_faults`` answers 503 with ``Retry-After``.

``scope: all`` makes error, throttle and latency apply to reads as well.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference.common.errors import ApiError, error_responses
from reference.common.net import is_loopback

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PATH = "/_faults"


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["error", "throttle", "latency", "outage"]
    count: Annotated[int, Field(ge=1, le=1_000_000, description="how many requests the fault applies to")] = 1
    status: Annotated[int, Field(ge=500, le=599, description="error: the status to answer")] = 503
    phase: Annotated[Literal["before", "after"], Field(
        description="error: fail before the write (not applied) or after it (applied, answer lost)",
    )] = "before"
    retry_after: Annotated[int, Field(ge=0, le=3600, description="throttle: the Retry-After seconds")] = 1
    ms: Annotated[int, Field(ge=1, le=120_000, description="latency: milliseconds added")] = 200
    seconds: Annotated[float, Field(gt=0, le=86_400, description="outage: how long every request fails")] = 30
    scope: Annotated[Literal["writes", "all"], Field(
        description="error, throttle and latency: writes only, or every request")] = "writes"


@dataclass(frozen=True, kw_only=True)
class Fault:
    """What to do to one request."""

    kind: Literal["reject", "delay", "after"]
    status: int = 503
    retry_after: int | None = None
    delay_seconds: float = 0.0
    error: str = ""


class FaultSwitch:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._plan: FaultPlan | None = None
        self._remaining = 0
        self._until = 0.0
        self._applied = 0

    def set(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            self._remaining = plan.count
            self._until = self._clock() + plan.seconds
            self._applied = 0

    def clear(self) -> None:
        with self._lock:
            self._plan = None
            self._remaining = 0

    def state(self) -> dict[str, Any]:
        with self._lock:
            self._expire()
            active: dict[str, Any] | None = None
            if self._plan is not None:
                active = self._plan.model_dump()
                if self._plan.mode == "outage":
                    active["seconds_left"] = round(self._until - self._clock(), 3)
                else:
                    active["remaining"] = self._remaining
            return {"active": active, "applied": self._applied}

    def _expire(self) -> None:
        if self._plan is not None and self._plan.mode == "outage" and self._clock() >= self._until:
            self._plan = None

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any; counts it against the plan."""
        if path == PATH or path.startswith(PATH + "/"):
            return None
        with self._lock:
            self._expire()
            plan = self._plan
            if plan is None:
                return None
            if plan.mode == "outage":
                self._applied += 1
                seconds_left = max(1, math.ceil(self._until - self._clock()))
                return Fault(kind="reject", status=503, retry_after=seconds_left,
                             error="the service is down (injected outage)")
            if plan.scope == "writes" and method.upper() not in WRITE_METHODS:
                return None
            self._remaining -= 1
            self._applied += 1
            if self._remaining <= 0:
                self._plan = None
        if plan.mode == "latency":
            return Fault(kind="delay", delay_seconds=plan.ms / 1000)
        if plan.mode == "throttle":
            return Fault(kind="reject", status=429, retry_after=plan.retry_after,
                         error="too many requests (injected throttle)")
        return Fault(kind="after" if plan.phase == "after" else "reject", status=plan.status,
                     error=f"injected fault: the server answers {plan.status}")


class FaultMiddleware:
    """Applies the switch before the app sees a request, so a rejected write never reaches the database."""

    def __init__(self, app: ASGIApp, switch: FaultSwitch) -> None:
        self.app = app
        self.switch = switch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fault = self.switch.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay_seconds)
            await self.app(scope, receive, send)
            return
        if fault.kind == "after":
            async def discard(_: Message) -> None:
                return None

            await self.app(scope, receive, discard)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        body = {"error": fault.error, "field": None, "fix": "retry later, with the same Idempotency-Key"}
        await JSONResponse(body, status_code=fault.status, headers=headers)(scope, receive, send)


def _require_loopback(request: Request) -> FaultSwitch:
    client = request.client.host if request.client else ""
    if not is_loopback(client):
        raise ApiError(403, "the fault switch answers loopback clients only", field="client",
                       fix="call it from this machine (127.0.0.1)")
    switch: FaultSwitch = request.app.state.faults
    return switch


router = APIRouter(tags=["faults (tests only)"])


@router.get(PATH, summary="Show the active fault plan", responses=error_responses(403))
async def show_faults(request: Request) -> dict[str, Any]:
    return _require_loopback(request).state()


@router.post(PATH, summary="Make the next requests fail, throttle, slow down, or start an outage",
             responses=error_responses(403, 422))
async def set_faults(request: Request, plan: FaultPlan) -> dict[str, Any]:
    switch = _require_loopback(request)
    switch.set(plan)
    return switch.state()


@router.delete(PATH, summary="Clear the fault plan", responses=error_responses(403))
async def clear_faults(request: Request) -> dict[str, Any]:
    switch = _require_loopback(request)
    switch.clear()
    return switch.state()
