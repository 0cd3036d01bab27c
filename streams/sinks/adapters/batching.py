"""Coalesce the concurrent calls of one route into calls to the API's batch endpoint (``batch:`` on a route).

The worker applies many entities at once (``ISTHMUS_SINK_CONCURRENCY``), each command through its own
``attempt``. For a route with a batch endpoint those attempts do not call the API one by one: each hands its
item (the command's idempotency key, the route's path fields and its body) to the route's ``Batcher`` and
waits. The batcher sends what has gathered when ``max_items`` are there or ``linger_ms`` after the first,
and hands every waiting attempt the answer to its own item, judged like the single call's answer. So retries,
the Retry-After hold, the circuit breaker and dead letters work per command exactly as without batching.

A call refused as a whole with a 4xx that is not transient (the endpoint is missing, or rejected the batch's
shape) does not condemn its items: each is then sent through the route's single endpoint, as it would have
been without ``batch:``. An answer whose results do not match the items is treated the same way.

An item's result is read as the single call's answer would be: with an integer ``status`` (and its answer
under ``body``) as that status says; without one (``{"ok": false, "error": ...}``) the item is its own answer,
under the batch call's 2xx, for the route's ``answers`` rules to judge, and applied when no rule decides, as a
single call's 2xx is. A ``status`` that is a word (``"ok"``, ``"error"``) is read the same way by a route with
``answers`` rules (an integer as text, ``"201"``, is that status). A result that cannot be read at all (not an
object, a ``status`` that is no integer, a word without rules to read it) is a permanent failure carrying it:
sending the item again would get the same answer, and may apply it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.sinks.config.model import BatchSpec
from streams.sinks.outcomes import Applied, Attempt, Failed, answer_text, assigned_ids, classify_status

log = logging.getLogger("isthmus.sink")

#: The batch endpoint's per-item ``idempotency_key_status`` that means "answered from the idempotency table".
REPLAYED = "replayed"


@dataclass(frozen=True, kw_only=True)
class BatchItem:
    """One command's share of a batch call, and what its single call would be (for the fallback)."""

    key: str
    fields: Mapping[str, Any]
    method: str
    path: str
    body: Any
    ids: Mapping[str, str] | Sequence[str]


#: Sends one batch call: (method, path, JSON body) -> (status, answer, Retry-After seconds), or a Failed
#: when the target gave no answer (timeout, refused connection).
BatchCall = Callable[[str, str, Any], Awaitable["tuple[int, Any, float | None] | Failed"]]
#: Applies one item through the route's single endpoint.
SingleCall = Callable[[BatchItem], Awaitable[Attempt]]


class Batcher:
    def __init__(self, spec: BatchSpec, *, system: str, call: BatchCall, single: SingleCall,
                 answers: bool = False) -> None:
        self.spec = spec
        self.system = system
        #: The route has ``answers`` rules, which judge an item answered without a status (else: applied).
        self.answers = answers
        self._unruled_warned = False
        self._call = call
        self._single = single
        self._waiting: list[tuple[BatchItem, asyncio.Future[Attempt]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.calls = 0
        self.fallbacks = 0

    async def submit(self, item: BatchItem) -> Attempt:
        """The answer to this item, once the call that carried it is answered."""
        future: asyncio.Future[Attempt] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._waiting) >= self.spec.max_items:
            self._send_now()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.spec.linger_ms / 1000, self._send_now)
        return await future

    def _send_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            taken = self._waiting[:self.spec.max_items]
            del self._waiting[:self.spec.max_items]
            taken = [(item, future) for item, future in taken if not future.done()]  # cancelled: not sent
            if taken:
                task = asyncio.create_task(self._send(taken), name=f"sink-batch-{self.spec.path}")
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _send(self, taken: list[tuple[BatchItem, asyncio.Future[Attempt]]]) -> None:
        try:
            outcomes = await self._outcomes([item for item, _ in taken])
        except BaseException as exc:  # the waiting attempts see it rather than hang
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), outcome in zip(taken, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def _outcomes(self, items: list[BatchItem]) -> list[Attempt]:
        spec = self.spec
        what = f"{spec.method} {spec.path}"
        key = spec.key_field  # None: the API takes no key in its items
        body = {spec.items_field: [{**({} if key is None else {key: item.key}), **item.fields} for item in items]}
        self.calls += 1
        answered = await self._call(spec.method, spec.path, body)
        if isinstance(answered, Failed):
            return [answered] * len(items)
        status, answer, retry_after = answered
        kind = classify_status(status)
        if kind == "transient":
            failed = Failed(kind="transient", status=status, answer=answer, retry_after=retry_after,
                            error_type=f"Http{status}",
                            reason=f"{self.system} answered {status} to {what} ({len(items)} items): "
                                   f"{answer_text(answer)}")
            return [failed] * len(items)
        results = answer.get(spec.results_field) if kind is None and isinstance(answer, Mapping) else None
        if not isinstance(results, list) or len(results) != len(items):
            self.fallbacks += 1
            log.warning("sink %s: %s answered %s%s; sending its %d items one by one", self.system, what, status,
                        "" if kind else f" without {len(items)} {spec.results_field}", len(items))
            return list(await asyncio.gather(*(self._single(item) for item in items)))
        return [self._judge(item, result, status) for item, result in zip(items, results, strict=True)]

    def _judge(self, item: BatchItem, result: Any, call_status: int) -> Attempt:
        what = f"{item.method} {item.path} (in a batch)"
        status = result.get("status") if isinstance(result, Mapping) else None
        if isinstance(status, str) and status.isascii() and status.strip().isdigit():
            status = int(status)  # "201": an HTTP status as text
        elif isinstance(status, str) and self.answers:  # "ok", "error": a word the route's answers rules read
            return Applied(status=call_status, body=result, ids=assigned_ids(result, item.ids), call=what)
        if isinstance(status, str):
            return Failed(kind="permanent", error_type="BatchAnswerUnreadable", answer=result,
                          reason=f"{self.system} answered an item of {what} with the status {status!r}, a word the "
                                 "route has no answers rules to read: whether it was applied is unknown, so it is not "
                                 "sent again; declare what the word means in the route's answers (error: {when: "
                                 f"{{path: status, equals: {status}}}, message: <field>}}, or success: ...; "
                                 "targets/README.md, \"Answers\"), check the target, then replay the dead letter")
        if not isinstance(result, Mapping) or isinstance(status, bool) or not isinstance(status, int | None):
            return Failed(kind="permanent", error_type="BatchAnswerUnreadable", answer=result,
                          reason=f"{self.system} answered an item of {what} with a result that cannot be read "
                                 f"(an object, with an integer status or none, is expected): {answer_text(result)}; "
                                 "whether it was applied is unknown, so it is not sent again: check the target, then "
                                 "replay the dead letter (or remove batch from the route to send each command alone)")
        if status is None:  # the item is its own answer, under the call's 2xx: the route's answers rules read it
            self._unruled(what, result)
            return Applied(status=call_status, body=result, ids=assigned_ids(result, item.ids), call=what)
        answer = result.get("body", result)
        kind = classify_status(status)
        if kind is None:
            return Applied(status=status, body=answer, replayed=result.get("idempotency_key_status") == REPLAYED,
                           ids=assigned_ids(answer, item.ids), call=what)
        return Failed(kind=kind, status=status, answer=answer, error_type=f"Http{status}",
                      reason=f"{self.system} answered {status} to {what}: {answer_text(answer)}")

    def _unruled(self, what: str, result: Any) -> None:
        """Warn once that items come without a status on a route with no ``answers`` rules to read them."""
        if self.answers or self._unruled_warned:
            return
        self._unruled_warned = True
        log.warning("sink %s: %s answered items without a status (%s) and the route has no answers rules, so "
                    "each such item is taken as applied, as a single call's 2xx is; if the API says in the item "
                    "that it failed, declare it in the route's answers (error: {when: ...}, or success: ...), see "
                    "targets/README.md, \"Answers\"", self.system.lower(), what, answer_text(result, 200))

    async def close(self) -> None:
        """Stop: items still gathering are cancelled (their commands stay uncommitted), calls under way end."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()
        for task in list(self._sending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
