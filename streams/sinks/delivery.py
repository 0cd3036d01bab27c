"""Deliver one command: try, and on a transient failure wait and try again until it is applied, refused,
or past the transient deadline. Every try passes the target's gate (Retry-After hold, circuit breaker)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from streams.sinks.adapters.base import Adapter
from streams.sinks.adapters.mapping import UnresolvedReference, render_path
from streams.sinks.adapters.versions import still_stale
from streams.sinks.answers import BODY_ERROR, judge
from streams.sinks.backoff import Backoff
from streams.sinks.config.model import HttpRoute, TargetConfig
from streams.sinks.credentials import CredentialRefusals
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import (
    FORBIDDEN,
    STALE_VERSION,
    Applied,
    Attempt,
    Failed,
    refusal,
    top_keys,
    unfound_ids,
)
from streams.sinks.records import SinkCommand

log = logging.getLogger("isthmus.sink")

#: The operations of a command about a record the target already has: an external-id upsert that creates for
#: one of them found no record, so the one it was meant to change (found by a field that changed) gains a twin.
CHANGING_OPERATIONS = ("update", "deactivate", "cancel")
#: A 429 comes from a live target asking for less traffic: it holds calls for Retry-After but does not count
#: toward the circuit breaker, which is for a target that is down (5xx, timeouts, refused connections).
THROTTLED = 429


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    backoff: Backoff
    retry_after_max_s: float = 300.0
    transient_deadline_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class Delivered:
    """The end of one command's delivery: applied, or a failure to dead-letter; with the tries it took."""

    outcome: Applied | Failed
    attempts: int
    retries_after_transient: int = 0


class Deliverer:
    def __init__(self, *, adapter: Adapter, gate: TargetGate, policy: RetryPolicy, config: TargetConfig,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None) -> None:
        self.adapter = adapter
        self.gate = gate
        self.policy = policy
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        #: The target refusing Isthmus's credentials (401, 403): retried like an outage, said once per refusal.
        self.credentials = CredentialRefusals(config)
        #: Successful answers in which a path of the route's ``ids`` found nothing (see :meth:`_check_ids`).
        #: Calls made beyond each command's first, counted as they go out (a command still retrying counts).
        self.retries = 0
        self.ids_not_found = 0
        self._ids_warned: set[tuple[str, str]] = set()
        #: Commands of :data:`CHANGING_OPERATIONS` whose external-id search found nothing and so created a
        #: record (see :meth:`_check_created`).
        self.created_by_changes = 0

    def _judged(self, command: SinkCommand, outcome: Attempt) -> Attempt:
        """The attempt as the route's ``answers`` rules read its answer (an error under HTTP 200 is an error),
        for any adapter; named by the call as made when the adapter says which, else by the route's plan."""
        route = self.config.route(command.payload_type, command.operation)
        if route is None or route.answers is None:
            return outcome
        call = outcome.call if isinstance(outcome, Applied) and outcome.call else route.plan()
        judged = judge(route.answers, outcome, system=self.config.system.upper(), call=call)
        if (isinstance(judged, Failed) and judged.kind == "permanent" and judged.error_type == BODY_ERROR
                and isinstance(route, HttpRoute)):  # a business refusal the API answers under 200
            return refusal(judged, route.refusals, body_error=True) or judged
        return judged

    def _check_ids(self, command: SinkCommand, applied: Applied) -> None:
        """Count an answer in which a path of the route's ``ids`` finds nothing; warn once per route."""
        route = self.config.route(command.payload_type, command.operation)
        if route is None or applied.refused or not route.ids:
            return
        unfound = unfound_ids(applied, route.ids)
        if not unfound:
            return
        self.ids_not_found += 1
        if (route.payload_type, route.operation) in self._ids_warned:
            return
        self._ids_warned.add((route.payload_type, route.operation))
        paths = ", ".join(f"{path} ({name})" for name, path in unfound.items())
        where = f"{self.config.path.name}:{route.line}" if route.line else self.config.path.name
        log.warning("sink %s: route %s %s (%s) records no id at %s: the answer of %s has nothing there; its "
                    "top-level keys: %s. Fix the path in the route's ids (counted in "
                    "isthmus_sink_ids_not_found_total; said once per route)", self.config.system,
                    route.payload_type.rpartition(".")[2], route.operation, where, paths,
                    applied.call or route.plan(), top_keys(applied.body))

    def _check_created(self, command: SinkCommand, applied: Applied) -> None:
        """Count and warn of a command that changes a record (an update, a deactivation) whose external-id search
        found none, so the upsert created one: when the record exists and the search filters by a field the
        change altered (a new e-mail), it now exists twice."""
        route = self.config.route(command.payload_type, command.operation)
        if (route is None or applied.refused or command.operation not in CHANGING_OPERATIONS
                or not isinstance(applied.body, Mapping) or applied.body.get("upsert") != "created"):
            return  # every adapter's external-id upsert says what it did in its answer's "upsert"
        self.created_by_changes += 1
        made, kept = f"({route.plan()})", "the external id"
        if isinstance(route, HttpRoute) and route.external_id is not None:
            search = route.external_id.search
            kept = route.external_id.field
            try:
                made = f"{search.method} {render_path(search.path, command.payload, {})}"
            except UnresolvedReference:
                made = f"{search.method} {search.path}"
        where = f"{self.config.path.name}:{route.line}" if route.line else self.config.path.name
        log.warning("sink %s: route %s %s (%s) created a new record for %s: its search %s found none, so if the "
                    "record it was to %s exists (found by a field that changed), it now exists twice. Make the "
                    "external_id search filter by %s, which does not change (counted in "
                    "isthmus_sink_created_by_changes_total)", self.config.system,
                    route.payload_type.rpartition(".")[2], route.operation, where, command.entity_key, made,
                    command.operation, kept)

    def _conflict_retries(self, command: SinkCommand, failed: Failed) -> int:
        """How many times a conflict is tried again: a stale version as often as the route's precondition says
        (each try reads the version again), any other as its ``on_conflict`` says."""
        route = self.config.route(command.payload_type, command.operation)
        if not isinstance(route, HttpRoute):
            return 1
        if failed.error_type == STALE_VERSION and route.precondition is not None:
            return route.precondition.retries
        return 0 if route.on_conflict == "dead_letter" else 1

    def _gave_up(self, command: SinkCommand, failed: Failed, conflicts: int) -> str:
        route = self.config.route(command.payload_type, command.operation)
        if failed.error_type == STALE_VERSION and isinstance(route, HttpRoute):
            return still_stale(failed, route, self.config.path.name, conflicts)
        return failed.reason + ("; it still conflicted after a retry" if conflicts else "")

    async def deliver(self, command: SinkCommand) -> Delivered:
        attempts = transient = conflicts = 0
        first = self.clock()
        forbidden_at: int | None = None  # the target's accepted answers when this command last got a 403
        while True:
            probe = await self.gate.enter()
            attempts += 1
            self.retries += attempts > 1
            try:
                answered = await self.adapter.attempt(command)
            except BaseException:
                self.gate.abandon(probe)
                raise
            self.credentials.observe(answered)
            outcome = self._judged(command, answered)
            if isinstance(outcome, Failed) and outcome.status == FORBIDDEN:
                if forbidden_at is not None and self.credentials.accepted > forbidden_at:
                    outcome = self.credentials.forbidden_here(outcome)
                forbidden_at = self.credentials.accepted
            if isinstance(outcome, Applied):
                self.gate.success()
                self._check_ids(command, outcome)
                self._check_created(command, outcome)
                return Delivered(outcome=outcome, attempts=attempts, retries_after_transient=transient)
            if outcome.kind == "permanent":
                self.gate.success()
                return Delivered(outcome=outcome, attempts=attempts, retries_after_transient=transient)
            if outcome.kind == "conflict":
                self.gate.success()
                if conflicts >= self._conflict_retries(command, outcome):
                    return Delivered(outcome=_with_reason(outcome, self._gave_up(command, outcome, conflicts)),
                                     attempts=attempts, retries_after_transient=transient)
                conflicts += 1
                await asyncio.sleep(self.policy.backoff.delay(conflicts, self.rng))
                continue
            if outcome.status == THROTTLED:
                self.gate.success()
            else:
                self.gate.failure(outcome.reason)
            transient += 1
            retry_after = None
            if outcome.retry_after is not None:
                retry_after = min(outcome.retry_after, self.policy.retry_after_max_s)
                self.gate.hold(retry_after)
            deadline = self.policy.transient_deadline_s
            if deadline is not None and self.clock() - first >= deadline:
                reason = (f"gave up after {attempts} attempts over {self.clock() - first:.0f} s "
                          f"(ISTHMUS_SINK_TRANSIENT_DEADLINE_S={deadline:g}); the last: {outcome.reason}")
                return Delivered(outcome=_with_reason(outcome, reason), attempts=attempts,
                                 retries_after_transient=transient)
            wait = self.policy.backoff.delay(transient, self.rng)
            await asyncio.sleep(max(wait, retry_after or 0.0))


def _with_reason(failed: Failed, reason: str) -> Failed:
    return Failed(kind=failed.kind, reason=reason, status=failed.status, answer=failed.answer,
                  retry_after=failed.retry_after, error_type=failed.error_type)
