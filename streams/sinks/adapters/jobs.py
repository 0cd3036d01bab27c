"""A write the API answers with a job to poll instead of the record (``202 Accepted`` with ``{"job_id": "j_1"}``
or a ``Location: /jobs/j_1`` header): the command's attempt polls the job until it ends, as its route's ``job``
says (:class:`~streams.sinks.config.model.JobSpec`), so it is applied only once the record exists, and the later
commands of its entity wait behind it as behind any attempt.

- done: applied, with the job's answer at ``result`` as the command's answer (its ``ids`` read there);
- failed: dead-lettered like an error answer of the route (``TargetError``, the job's message), never sent again:
  the create may have partly happened;
- a poll that fails transiently (5xx, 429 with its ``Retry-After``, no answer): the same job is polled again, the
  write never sent again (at an API without idempotency keys that would make a second record);
- a poll refused for good (404: the API lost the job), or an accepting answer that names no job: dead-lettered
  (``JobUnread``) saying the record may exist;
- not ended ``timeout_s`` after it was accepted: dead-lettered (``JobTimedOut``) with the job's URL, its last status
  and what to do; a job polled for long is logged once a minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from streams.sinks.adapters.mapping import MISSING, UnresolvedReference, get_path, render_path
from streams.sinks.answers import BODY_ERROR, any_holds
from streams.sinks.config.model import JOB_POLL_MAX_S, IdPaths, JobSpec
from streams.sinks.outcomes import JOB_TIMED_OUT, Applied, Attempt, Failed, answer_text, assigned_ids

log = logging.getLogger("isthmus.sink")

#: The error type of a job that cannot be polled or read: no job named in the accepting answer, a poll refused for
#: good (the API lost the job), a finished job without its record.
JOB_UNREAD = "JobUnread"
#: How often a job still running is said at INFO.
PROGRESS_S = 60.0

#: One GET of the job (a path below the base URL, or an absolute URL of the target's own origin).
Poll = Callable[[str], Awaitable[Attempt]]


def is_job(spec: JobSpec | None, outcome: Attempt) -> bool:
    """Whether ``outcome`` is an answer that accepted a job to poll, as the route's ``job`` says."""
    return (spec is not None and isinstance(outcome, Applied) and not outcome.refused and not outcome.gone
            and outcome.status in spec.when)


class JobPoller:
    """Polls the jobs of one target: ``poll`` makes the GET (the adapter's call: its auth, headers, connection
    pool and rate); ``base_url`` bounds where a ``Location`` may point (the target's credentials go nowhere else)."""

    def __init__(self, *, system: str, target_file: str, base_url: str, poll: Poll,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.system = system
        self.target_file = target_file
        self.base_url = base_url.rstrip("/")
        self._poll = poll
        self._clock = clock
        self._sleep = sleep

    async def outcome(self, spec: JobSpec, accepted: Applied, *, call: str, path: str, ids: IdPaths,
                      entity: str) -> Attempt:
        """The command's outcome once the job ``accepted`` (the answer to ``call``, made to ``path``) has ended."""
        started = self._clock()
        where = self.job_url(spec, accepted, call=call, path=path)
        if isinstance(where, Failed):
            return where
        job = f"{self.system}'s job {where} (accepted with {accepted.status} for {call})"
        unsent = ("It is not sent again: the API may have made the record, and a second create would make it twice")
        wait, polls, last = spec.poll_s, 0, f"accepted: {answer_text(accepted.body, 300)}"
        said = started
        while True:
            left = started + spec.timeout_s - self._clock()
            await self._sleep(max(0.0, min(wait, left)))
            polled = await self._poll(where)
            polls += 1
            if isinstance(polled, Applied):
                body = polled.body
                if spec.failed and any_holds(spec.failed, body):
                    return Failed(kind="permanent", error_type=BODY_ERROR, status=polled.status, answer=body,
                                  protocol_error=True, call=f"GET {where}",
                                  reason=f"{job} failed: {self._message(spec, body)}. {unsent}: check in "
                                         f"{self.system} what it made, fix the cause, then replay the dead letter "
                                         "(isthmus topics dlq replay) or settle it (isthmus topics dlq settle)")
                if any_holds(spec.done, body):
                    return self._done(spec, polled, job=job, where=where, ids=ids)
                last = self._status(spec, body)
                wait = min(wait * 2, JOB_POLL_MAX_S)
            elif polled.kind == "transient":  # the same job is polled again: the write is never sent again
                last = f"the last poll failed: {polled.reason}"
                wait = max(min(wait * 2, JOB_POLL_MAX_S), polled.retry_after or 0.0)
            else:
                return Failed(kind="permanent", error_type=JOB_UNREAD, status=polled.status, answer=polled.answer,
                              call=f"GET {where}",
                              reason=f"{job} could not be polled: {polled.reason}. {unsent}: check in {self.system} "
                                     "whether the record was made; if so settle the dead letter (isthmus topics dlq "
                                     "settle), else replay it (isthmus topics dlq replay)")
            elapsed = self._clock() - started
            if elapsed >= spec.timeout_s:
                log.warning("sink %s: %s had not ended after %.0f s (%d polls; %s): dead-lettered (%s), not sent again",
                            self.system.lower(), job, elapsed, polls, last, JOB_TIMED_OUT)
                return Failed(kind="permanent", error_type=JOB_TIMED_OUT, status=accepted.status,
                              answer=polled.body if isinstance(polled, Applied) else polled.answer,
                              call=f"GET {where}",
                              reason=f"{job} had not ended {spec.timeout_s:g} s after it was accepted (job.timeout_s "
                                     f"of the route at {self._at(spec)}; {polls} polls; {last}). {unsent}: check the "
                                     f"job in {self.system} (GET {where}); once it is done settle the dead letter "
                                     "(isthmus topics dlq settle), if it failed or is lost replay it (isthmus topics "
                                     "dlq replay); raise job.timeout_s if its jobs take longer")
            if self._clock() - said >= PROGRESS_S:
                said = self._clock()
                log.info("sink %s: %s for %s still running after %.0f s (%d polls; %s); polled until %g s",
                         self.system.lower(), job, entity, elapsed, polls, last, spec.timeout_s)

    def job_url(self, spec: JobSpec, accepted: Applied, *, call: str, path: str) -> str | Failed:
        """Where the job is polled: its path filled from the accepting answer, or its ``Location`` (resolved
        against the write's URL, and only at the target's own origin)."""
        made = "The API may have made the record, so it is not sent again: check in " + self.system + \
            " whether it did; if so settle the dead letter (isthmus topics dlq settle), else fix the route's job " \
            f"({self._at(spec)}) and replay it (isthmus topics dlq replay)"
        if spec.location:
            location = accepted.headers.get("Location")
            if not location:
                return Failed(kind="permanent", error_type=JOB_UNREAD, status=accepted.status, answer=accepted.body,
                              call=call, reason=f"{self.system} answered {accepted.status} to {call} without a "
                                                "Location header, so the job it accepted cannot be polled "
                                                f"(job.location); its answer: {answer_text(accepted.body, 500)}. "
                                                f"{made}")
            url = urljoin(self.base_url + path, location)
            if _origin(url) != _origin(self.base_url):
                return Failed(kind="permanent", error_type=JOB_UNREAD, status=accepted.status, answer=accepted.body,
                              call=call, reason=f"{self.system} answered {accepted.status} to {call} with its job at "
                                                f"{location!r}, which is not below {self.base_url}; Isthmus sends the "
                                                f"target's credentials only there. {made}")
            base = self.base_url
            return url[len(base):] if url.startswith(base + "/") else url
        assert spec.path is not None
        body = accepted.body if isinstance(accepted.body, Mapping) else {}
        try:
            return render_path(spec.path, body, {})
        except UnresolvedReference as missing:
            return Failed(kind="permanent", error_type=JOB_UNREAD, status=accepted.status, answer=accepted.body,
                          call=call, reason=f"{self.system} answered {accepted.status} to {call} without "
                                            f"{missing.name}, which the job's path {spec.path} needs: "
                                            f"{answer_text(accepted.body, 500)}. {made}")

    def _done(self, spec: JobSpec, polled: Applied, *, job: str, where: str, ids: IdPaths) -> Attempt:
        record: Any = polled.body if spec.result is None else get_path(polled.body, spec.result)
        if record is MISSING:
            return Failed(kind="permanent", error_type=JOB_UNREAD, status=polled.status, answer=polled.body,
                          call=f"GET {where}",
                          reason=f"{job} is done, and its answer has no {spec.result} (job.result at "
                                 f"{self._at(spec)}): {answer_text(polled.body, 500)}; so the record's ids are "
                                 "unknown. Fix job.result, then settle the dead letter (the record is made)")
        return Applied(status=polled.status, body=record, ids=assigned_ids(record, ids), call=f"GET {where}",
                       headers=polled.headers)

    def _message(self, spec: JobSpec, body: Any) -> str:
        if spec.message is not None:
            value = get_path(body, spec.message)
            if value is not MISSING and value is not None:
                return value if isinstance(value, str) else answer_text(value, 500)
        return answer_text(body, 500)

    @staticmethod
    def _status(spec: JobSpec, body: Any) -> str:
        """The job's status as its answer says (where ``done`` looks), for logs and the dead letter."""
        value = get_path(body, spec.done[0].path)
        shown = answer_text(body, 200) if value is MISSING else answer_text(value, 200)
        return f"its last status: {shown}"

    def _at(self, spec: JobSpec) -> str:
        return f"{self.target_file}:{spec.line}" if spec.line else self.target_file


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
