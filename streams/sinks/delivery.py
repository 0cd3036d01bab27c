"""Deliver one command: try, and on a transient failure wait and try again until it is applied, refused,
past the transient deadline, or known to fail alone. A refusal its flow does not read from the results topic is
dead-lettered (``streams.sinks.unread``). Every try passes the target's gate (Retry-After hold,
circuit breaker).

A call that never went out (every connection busy, ``unsent``) counts toward neither the circuit breaker nor the
failing-alone rule; one that got no answer in time (``timed_out``) counts toward the breaker but is never a
command's own failure. A command failing alone (streams/sinks/retrying.py: the target applies other commands
meanwhile) is not an outage: its failures do not count toward the circuit breaker, a probe it was is handed to
the next waiting call, its ``Retry-After`` holds no other call, and once it has failed alone ``alone_attempts``
times and ``alone_s`` after its first failure it is dead-lettered (``FailingAlone``), so the offsets of its
partition commit and its cause can be fixed and the command replayed. When the sink stops (:meth:`Deliverer.stop`)
every wait of a delivery ends at once: its command stays uncommitted, to be sent again after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

from streams.sinks.adapters.base import Adapter
from streams.sinks.adapters.mapping import UnresolvedReference, render_path
from streams.sinks.adapters.upsert import LEFT_AS_IS
from streams.sinks.adapters.versions import still_stale
from streams.sinks.answers import BODY_ERROR, judge
from streams.sinks.assigned import AssignedIds
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import BreakerState
from streams.sinks.config.model import HttpRoute, TargetConfig
from streams.sinks.credentials import CredentialRefusals
from streams.sinks.gate import TargetGate
from streams.sinks.gone import as_gone, gone_text, unmet
from streams.sinks.outcomes import (
    CREDENTIAL_STATUSES,
    FORBIDDEN,
    JOB_TIMED_OUT,
    STALE_VERSION,
    Applied,
    Attempt,
    Failed,
    answer_text,
    error_shaped,
    refusal,
    top_keys,
    unfound_ids,
)
from streams.sinks.records import SinkCommand
from streams.sinks.retrying import Retries, Retry
from streams.sinks.throttle import ALONE_NOW, COMMAND_POSITION
from streams.sinks.unread import unread_refusal

log = logging.getLogger("isthmus.sink")

#: The operations of a command about a record the target already has: an external-id upsert that creates for
#: one of them found no record, so the one it was meant to change (found by a field that changed) gains a twin.
#: (A deactivate or cancel never creates: it finds the record gone, see ``streams.sinks.gone``.)
CHANGING_OPERATIONS = ("update",)
#: A 429 comes from a live target asking for less traffic: it holds calls for Retry-After but does not count
#: toward the circuit breaker, which is for a target that is down (5xx, timeouts, refused connections).
THROTTLED = 429
#: The error type of a command dead-lettered for failing alone, and the settings of the rule.
FAILING_ALONE = "FailingAlone"
ALONE_ATTEMPTS_SETTING = "ISTHMUS_SINK_FAILING_ALONE_ATTEMPTS"
ALONE_S_SETTING = "ISTHMUS_SINK_FAILING_ALONE_S"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    backoff: Backoff
    retry_after_max_s: float = 300.0
    transient_deadline_s: float | None = None
    #: A command failing alone is dead-lettered once both hold (ISTHMUS_SINK_FAILING_ALONE_ATTEMPTS and _S).
    alone_attempts: int = 5
    alone_s: float = 120.0


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
        #: Successful answers that read like an error (``{"ok": false, "error": ...}``) of a route with no
        #: ``answers.error`` rule, counted applied (see :meth:`_check_error_shaped`).
        self.error_shaped = 0
        self._error_shaped_warned: set[tuple[str, str]] = set()
        #: Commands of :data:`CHANGING_OPERATIONS` whose external-id search found nothing and so created a
        #: record (see :meth:`_check_created`).
        self.created_by_changes = 0
        #: Commands whose job (a route's ``job``: the API answered a job to poll) had not ended within the route's
        #: ``job.timeout_s``, dead-lettered (``JobTimedOut``) and never sent again.
        self.jobs_timed_out = 0
        #: The ids the target answered each entity's applied commands with, for its next commands decided
        #: before the entity flow knew them (:mod:`streams.sinks.assigned`).
        self.assigned = AssignedIds()
        #: Deactivate and cancel commands applied as gone, by (payload type's short name, operation); see
        #: :meth:`_gone`.
        self.gone: Counter[tuple[str, str]] = Counter()
        #: The commands retrying a transient failure now, and whether each fails alone.
        self.retrying = Retries()
        self._positions = itertools.count()
        #: The deliveries waiting now (at the gate, backing off, for a Retry-After), which :meth:`stop` ends.
        self._waits: set[asyncio.Task[object]] = set()
        self.stopping = False

    def stop(self) -> int:
        """The sink stops (SIGTERM): end every delivery's wait now (the breaker, a backoff, a Retry-After; each is
        cancelled, its command left uncommitted for the next start) and start no new call. Calls already out go on.
        Returns how many deliveries were waiting."""
        self.stopping = True
        waiting = [task for task in self._waits if not task.done()]
        for task in waiting:
            task.cancel()
        return len(waiting)

    @contextlib.contextmanager
    def _waiting(self) -> Iterator[None]:
        """A wait of the current delivery, which :meth:`stop` ends; once stopping, no wait (nor call) begins."""
        if self.stopping:
            raise asyncio.CancelledError("the sink is stopping")
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._waits.add(task)
        try:
            yield
        finally:
            self._waits.discard(task)

    def _where(self, line: int | None) -> str:
        return f"{self.config.path.name}:{line}" if line else self.config.path.name

    def _gone(self, command: SinkCommand, outcome: Attempt) -> Applied | None:
        """The attempt as a gone deactivate or cancel, when its route's ``gone`` rule reads it so (any adapter's);
        else None. Counted; the first of each route is logged at INFO with what it means."""
        route = self.config.route(command.payload_type, command.operation)
        rule = self.config.gone_rule(command.payload_type, command.operation)
        if route is None or rule is None:
            return None
        text = gone_text(rule, outcome, system=self.config.system.upper(), call=route.plan())
        if text is None:
            return None
        name = (route.payload_type.rpartition(".")[2], route.operation)
        self.gone[name] += 1
        if self.gone[name] == 1:
            log.info("sink %s: route %s %s (%s) found the record of %s already gone, the state the command asks for: "
                     "%s. Applied as gone, nothing written (its CommandResult's answer says so at $gone; counted in "
                     "isthmus_sink_gone_total; said once per route, each later one at DEBUG)", self.config.system,
                     *name, self._where(route.line), command.entity_key, text)
        else:
            log.debug("sink %s: %s %s %s gone: %s", self.config.system, *name, command.entity_key, text)
        return as_gone(outcome, text)

    def _unmet(self, command: SinkCommand, failed: Failed) -> Failed:
        """A deactivate or cancel's dead letter whose answer may mean "not there": why it was not taken for gone."""
        route = self.config.route(command.payload_type, command.operation)
        if route is None:
            return failed
        return unmet(self.config.gone_rule(command.payload_type, command.operation), failed,
                     where=self._where(route.line), system=self.config.system.upper())

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
        if route is None or applied.refused or applied.gone or not route.ids:
            return
        if isinstance(applied.body, Mapping) and applied.body.get("upsert") in LEFT_AS_IS:
            return  # the answer is the external id's search's: the ids name what the create's answer holds
        unfound = unfound_ids(applied, route.ids)
        if not unfound:
            return
        self.ids_not_found += 1
        if (route.payload_type, route.operation) in self._ids_warned:
            return
        self._ids_warned.add((route.payload_type, route.operation))
        paths = ", ".join(f"{path} ({name})" for name, path in unfound.items())
        where = self._where(route.line)
        log.warning("sink %s: route %s %s (%s) records no id at %s: the answer of %s has nothing there; its "
                    "top-level keys: %s. Fix the path in the route's ids (counted in "
                    "isthmus_sink_ids_not_found_total; said once per route)", self.config.system,
                    route.payload_type.rpartition(".")[2], route.operation, where, paths,
                    applied.call or route.plan(), top_keys(applied.body))

    def _learn_ids(self, command: SinkCommand, applied: Applied) -> None:
        route = self.config.route(command.payload_type, command.operation)
        if route is not None and route.ids:
            self.assigned.learn(command, applied, route.ids)

    def _check_error_shaped(self, command: SinkCommand, applied: Applied) -> None:
        """Count and warn (once per route) of a success whose answer reads like an error, on a route with no
        ``answers.error`` rule: many APIs answer every call 200 and say in the body that it failed, and such a
        write, counted applied, is lost without a word (a trial's API left 29 customers wrong so)."""
        route = self.config.route(command.payload_type, command.operation)
        if (route is None or applied.refused or applied.gone
                or (route.answers is not None and route.answers.error is not None)):
            return
        rule = error_shaped(applied.body)
        if rule is None:
            return
        self.error_shaped += 1
        name = (route.payload_type.rpartition(".")[2], route.operation)
        if name in self._error_shaped_warned:
            return
        self._error_shaped_warned.add(name)
        log.warning("sink %s: route %s %s (%s) counted applied an answer that reads like an error: %s answered %s to "
                    "%s: %s. If %s reports failures so, that write was not made and nothing else will say so: declare "
                    "them in the route's answers.error, e.g. answers: {error: %s} (targets/README.md, \"Answers\"), "
                    "then compare the records written since; said once per route", self.config.system, *name,
                    self._where(route.line), self.config.system.upper(), applied.status,
                    applied.call or route.plan(), answer_text(applied.body, 300), self.config.system.upper(), rule)

    def _check_created(self, command: SinkCommand, applied: Applied) -> None:
        """Count and warn of a command that changes a record (an update) whose external-id search
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
        where = self._where(route.line)
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

    def _answered(self) -> None:
        """The target answered (anything but a failure of its own): the breaker closes, and after an outage the
        evidence of which commands fail alone starts again (streams/sinks/retrying.py)."""
        if self.gate.state is not BreakerState.CLOSED:
            self.retrying.recovered()
        self.gate.success()

    def _say_alone(self, retry: Retry) -> None:
        """Warn, once per command, that it fails alone: what, since when, and what follows."""
        command = retry.command
        log.warning("sink %s: command %s (%s %s %s) fails alone: %s applied %d other command(s) since its first "
                    "failure %.0f s ago, %d attempt(s); the last: %s. Its failures no longer count toward the "
                    "circuit breaker; it is dead-lettered after %d failures of its own and %g s (%s, %s) unless it "
                    "goes through (counted in isthmus_sink_failing_alone)", self.config.system, command.command_id,
                    command.payload_type.rpartition(".")[2], command.operation, command.entity_key,
                    self.config.system.upper(), self.retrying.applied_since(retry), self.clock() - retry.since,
                    retry.attempts, retry.reason, self.policy.alone_attempts, self.policy.alone_s,
                    ALONE_ATTEMPTS_SETTING, ALONE_S_SETTING)

    def _failed_alone(self, failed: Failed, retry: Retry) -> Failed:
        """The dead letter of a command failing alone: what failed, how often, that the target applied others
        meanwhile, and what to do."""
        system = self.config.system.upper()
        reason = (f"failed alone: {retry.attempts} attempts over {self.clock() - retry.since:.0f} s failed "
                  f"transiently while {system} applied {self.retrying.applied_since(retry)} other command(s), so the "
                  f"cause is this command, not an outage ({retry.alone} failures judged its own; "
                  f"{ALONE_ATTEMPTS_SETTING}={self.policy.alone_attempts}, {ALONE_S_SETTING}={self.policy.alone_s:g}); "
                  f"the last: {failed.reason}. Fix the cause (what {system} answered), then replay it: "
                  "isthmus topics dlq replay")
        return Failed(kind="transient", reason=reason, status=failed.status, answer=failed.answer,
                      retry_after=failed.retry_after, error_type=FAILING_ALONE)

    async def deliver(self, command: SinkCommand, position: int | None = None) -> Delivered:
        """Deliver ``command``; ``position``: its place in the order the worker fetched the records (else the
        order of these calls), by which its calls wait for their turn at the target (streams/sinks/throttle.py)."""
        COMMAND_POSITION.set(next(self._positions) if position is None else position)
        token = self.retrying.token()
        try:
            return await self._deliver(command, token)
        finally:
            self.retrying.done(token)

    async def _deliver(self, command: SinkCommand, token: int) -> Delivered:
        attempts = transient = conflicts = 0
        command = self.assigned.filled_in(command)  # a null id its entity's create was answered with since
        first = self.clock()
        forbidden_at: int | None = None  # the target's accepted answers when this command last got a 403
        while True:
            with self._waiting():
                probe = await self.gate.enter()
            attempts += 1
            self.retries += attempts > 1
            ALONE_NOW.set(self.retrying.asking_to_wait_is_own(token))  # if so, its Retry-After holds no other call
            try:
                answered = await self.adapter.attempt(command)
            except BaseException:
                self.gate.abandon(probe)
                raise
            self.credentials.observe(answered)
            outcome = self._gone(command, answered) or self._judged(command, answered)
            if isinstance(outcome, Failed) and outcome.status == FORBIDDEN:
                if forbidden_at is not None and self.credentials.accepted > forbidden_at:
                    outcome = self.credentials.forbidden_here(outcome)
                forbidden_at = self.credentials.accepted
            if isinstance(outcome, Applied):
                self._answered()
                self.retrying.success()
                self._check_ids(command, outcome)
                self._check_created(command, outcome)
                self._learn_ids(command, outcome)
                self._check_error_shaped(command, outcome)
                unread = unread_refusal(command, outcome, system=self.config.system,
                                        target_file=self.config.path.name)
                return Delivered(outcome=unread or outcome, attempts=attempts, retries_after_transient=transient)
            if outcome.kind == "permanent":
                self._answered()
                self.jobs_timed_out += outcome.error_type == JOB_TIMED_OUT
                return Delivered(outcome=self._unmet(command, outcome), attempts=attempts,
                                 retries_after_transient=transient)
            if outcome.kind == "conflict":
                self._answered()
                if conflicts >= self._conflict_retries(command, outcome):
                    return Delivered(outcome=_with_reason(outcome, self._gave_up(command, outcome, conflicts)),
                                     attempts=attempts, retries_after_transient=transient)
                conflicts += 1
                with self._waiting():
                    await asyncio.sleep(self.policy.backoff.delay(conflicts, self.rng))
                continue
            # a 429, or a row the command waits for (wait_s): the target answered, no outage; a 429 or an answer
            # with Retry-After may still be the command's own, on stronger evidence (streams/sinks/retrying.py)
            spoke = outcome.status == THROTTLED or outcome.wait_s is not None
            retry = self.retrying.failed(
                token, command, now=self.clock(), attempts=attempts, reason=outcome.reason, throttled=spoke,
                asks_to_wait=outcome.status == THROTTLED or outcome.retry_after is not None,
                may_be_alone=(outcome.status not in CREDENTIAL_STATUSES and outcome.wait_s is None
                              and not outcome.timed_out and not outcome.unsent))
            alone = retry.last_alone
            if alone:
                self.gate.failed_alone(probe)
            elif spoke:
                self._answered()
            elif outcome.unsent:  # it never reached the target: no evidence about it either way
                self.gate.abandon(probe)
            else:
                self.gate.failure(outcome.reason)
            transient += 1
            retry_after = None
            if outcome.retry_after is not None:  # failing alone, only the command itself waits for it
                retry_after = min(outcome.retry_after, self.policy.retry_after_max_s)
                if not alone:
                    self.gate.hold(retry_after)
            if alone:
                if retry.alone == 1:
                    self._say_alone(retry)
                if retry.alone >= self.policy.alone_attempts and self.clock() - retry.since >= self.policy.alone_s:
                    return Delivered(outcome=self._failed_alone(outcome, retry), attempts=attempts,
                                     retries_after_transient=transient)
            deadline, setting = self.policy.transient_deadline_s, "ISTHMUS_SINK_TRANSIENT_DEADLINE_S"
            if outcome.wait_s is not None and (deadline is None or outcome.wait_s < deadline):
                deadline, setting = outcome.wait_s, "wait_s"
            elapsed = self.clock() - first
            if deadline is not None and elapsed >= deadline:
                reason = (f"gave up after {attempts} attempts over {elapsed:.0f} s ({setting}={deadline:g}); the "
                          f"last: {outcome.reason}")
                return Delivered(outcome=_with_reason(outcome, reason), attempts=attempts,
                                 retries_after_transient=transient)
            wait = self.policy.backoff.delay(transient, self.rng)
            if outcome.wait_s is not None and deadline is not None:  # the last try at the wait's end, not past it
                wait = min(wait, deadline - elapsed)
            with self._waiting():
                await asyncio.sleep(max(wait, retry_after or 0.0))


def _with_reason(failed: Failed, reason: str) -> Failed:
    return replace(failed, reason=reason)
