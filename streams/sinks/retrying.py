"""The commands retrying a transient failure now, and whether each fails alone or with its target.

A target that fails every call is down: its commands wait (the circuit breaker, backoff) until it recovers. A
command that keeps failing transiently while the same target applies other commands is different: its failure
is its own (a contact whose company the target does not have, answered "unknown company" as a temporary error),
and waiting does not help it, while it holds back the commit of every later offset of its partition.

The rule, judged at each transient failure of a command after its first: the failure is the command's own when,
since the command's first failure, the target applied more other commands than other commands failed, however
each of those failures was judged. So during an outage (nothing applied, or fewer commands applied than failing)
and under an overload (a slow target answering some calls while many others time out) no failure is a command's
own: the target does not apply the others at a normal rate. (Counting only the failures judged the target's fed on
itself: once one failure was judged a command's own it stopped counting against the others, so after an overload a
single success made every retrying command "alone", and a new user's sink dead-lettered 446 of 500 creates.) The
first failure of a command is never its own (nothing is known yet); nor is a call that got no answer in time or
waited too long for a connection (under load, the sign of an overload, not of a bad command) or a 401 or 403 (the
credentials, see ``streams.sinks.credentials``); a 429 (a live target asking for less traffic) counts as no failure
of the others. An answer asking to wait (a 429, or any with ``Retry-After``) is judged against stronger evidence:
the commands applied must outnumber the other commands' failures and their 429s too. So an overloaded target
(every call, or most, answered so) holds everyone, while a command answered "not there yet, retry in 2 s" again
and again as the target applies the others (a new user's API: 50 attempts over 17 minutes, and from the in-flight
bound on nothing else was applied) fails alone. A few
poisoned commands still fail alone among many applied: their retries are few beside the others' successes. When the
target recovers from an outage (its circuit breaker closes), the evidence starts again for every command retrying:
the outage's failures, however many, say nothing about which commands fail alone once it is over.

Pure bookkeeping, time from the caller: the deliverer reports each transient failure, success and end.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from streams.sinks.records import SinkCommand


@dataclass(kw_only=True)
class Retry:
    """One command retrying a transient failure: what the sink's summary names, and its evidence."""

    command: SinkCommand
    #: When it first failed (the caller's clock).
    since: float
    #: Its tries so far, and the last failure's reason.
    attempts: int = 0
    reason: str = ""
    #: Its failures judged its own, and whether the last one was.
    alone: int = 0
    last_alone: bool = False
    #: The book's counts when it first failed: what the target did since is measured from there; and its own
    #: failures since, which are no evidence about the others.
    applied_before: int = 0
    failed_before: int = 0
    failed_own: int = 0
    throttled_before: int = 0
    throttled_own: int = 0


class Retries:
    """Per target: the commands retrying now, the commands it applied, and the transient failures."""

    def __init__(self) -> None:
        #: Commands the target applied (every success, its business refusals included).
        self.applied = 0
        #: Transient failures, however judged; and apart, those not counted as failures (429s, waits for a row).
        self.failures = 0
        self.throttled = 0
        self._retrying: dict[int, Retry] = {}
        self._tokens = itertools.count()

    def token(self) -> int:
        """A handle for one delivery's reports."""
        return next(self._tokens)

    def success(self) -> None:
        self.applied += 1

    def failed(self, token: int, command: SinkCommand, *, now: float, attempts: int, reason: str,
               may_be_alone: bool = True, throttled: bool = False, asks_to_wait: bool = False) -> Retry:
        """One transient failure of the delivery ``token``: judged its own or the target's (see the module);
        ``may_be_alone`` False for a failure that speaks about the target or the client whatever the evidence
        (credentials, no answer in time); ``throttled`` for a 429, not counted as a failure; ``asks_to_wait`` for
        an answer asking to wait (a 429, ``Retry-After``), judged against the others' 429s too."""
        retry = self._retrying.get(token)
        first = retry is None
        if retry is None:
            retry = self._retrying[token] = Retry(command=command, since=now)
        alone = not first and may_be_alone and self._alone(retry, asks_to_wait=asks_to_wait)
        if throttled:
            self.throttled += 1
            retry.throttled_own += not first
        else:
            self.failures += 1
            retry.failed_own += not first
        if first:  # measured from after its own first failure, which is no evidence against it
            retry.applied_before, retry.failed_before, retry.throttled_before = (self.applied, self.failures,
                                                                                 self.throttled)
        retry.attempts, retry.reason, retry.last_alone = attempts, reason, alone
        retry.alone += alone
        return retry

    def _alone(self, retry: Retry, *, asks_to_wait: bool) -> bool:
        against = self.failed_since(retry) + (self.throttled_since(retry) if asks_to_wait else 0)
        return self.applied_since(retry) > against

    def asking_to_wait_is_own(self, token: int) -> bool:
        """Whether an answer asking to wait, were it the next of the delivery ``token``, would be judged its own
        (the evidence as it stands): its call's answer then holds no other call (streams/sinks/throttle.py)."""
        retry = self._retrying.get(token)
        return retry is not None and self._alone(retry, asks_to_wait=True)

    def recovered(self) -> None:
        """The target answers again after an outage: measure every retrying command's evidence from now."""
        for retry in self._retrying.values():
            retry.applied_before, retry.failed_before, retry.failed_own = self.applied, self.failures, 0
            retry.throttled_before, retry.throttled_own = self.throttled, 0

    def applied_since(self, retry: Retry) -> int:
        """Commands the target applied since ``retry``'s first failure (or the end of the last outage)."""
        return self.applied - retry.applied_before

    def failed_since(self, retry: Retry) -> int:
        """Transient failures of other commands since ``retry``'s first failure (or the end of the last outage)."""
        return self.failures - retry.failed_before - retry.failed_own

    def throttled_since(self, retry: Retry) -> int:
        """429s answered to other commands since ``retry``'s first failure (or the end of the last outage)."""
        return self.throttled - retry.throttled_before - retry.throttled_own

    def done(self, token: int) -> None:
        """The delivery ``token`` ended (applied, dead-lettered or cancelled)."""
        self._retrying.pop(token, None)

    def of(self, command: SinkCommand) -> Retry | None:
        """The retry of ``command`` if it is retrying now."""
        return next((retry for retry in self._retrying.values() if retry.command is command), None)

    @property
    def count(self) -> int:
        """Commands retrying a transient failure now."""
        return len(self._retrying)

    @property
    def failing_alone(self) -> int:
        """Commands retrying now whose last failure was their own."""
        return sum(1 for retry in self._retrying.values() if retry.last_alone)

    def oldest(self) -> Retry | None:
        """The command retrying for the longest, if any."""
        return min(self._retrying.values(), key=lambda retry: retry.since, default=None)
