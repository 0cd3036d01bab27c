"""The ``job:`` of an HTTP route, checked through the loader's :class:`TargetReader` like the rest of the file
(every problem with its line, key and fix): which answers are a job to poll, where it is polled, and what says it
ended. What it means at run time: ``streams.sinks.adapters.jobs``."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from streams.sinks.config.model import JOB_STATUSES, PLACEHOLDER, Condition, HttpRoute, JobSpec

if TYPE_CHECKING:
    from streams.sinks.config.loader import Key, TargetReader

JOB_KEYS = ("when", "path", "location", "done", "failed", "result", "poll_s", "timeout_s")
WHEN_KEYS = ("status",)
#: A dotted path into an answer (digits index lists).
_DOTTED = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
EXAMPLE = ("job: {path: /jobs/{job_id}, done: {path: status, one_of: [done]}, failed: {path: status, one_of: "
           "[failed], message: error}, result: result}")
WHERE_FIX = ("give path: /jobs/{job_id} (each {name} a dotted path into the answer that accepted the job), or "
             "location: true to poll the URL of that answer's Location header")


def http_job(reader: TargetReader, raw: Any, key: Key) -> JobSpec | None:
    """A route's ``job`` by itself (None after reporting its problems); :func:`check_fits` checks it against the
    rest of its route."""
    spec = reader.mapping(raw, key, JOB_KEYS, "job")
    if spec is None:
        return None
    reported = len(reader.problems)
    when = _when(reader, spec.get("when"), (*key, "when"))
    path, location = _where(reader, spec, key)
    done: tuple[Condition, ...] = ()
    if spec.get("done") is None:
        reader.problem((*key, "done"), "done is missing: nothing would say the job has ended",
                       "give the condition the finished job's answer holds, e.g. done: {path: status, one_of: "
                       "[done, completed]}")
    else:
        done = reader.conditions(spec["done"], (*key, "done"), required=True)
    failed, message = _failed(reader, spec.get("failed"), (*key, "failed"))
    result = reader.string(spec, "result", key, pattern=_DOTTED,
                           fix="give the dotted path of the record in the finished job's answer, e.g. result, or "
                               "leave result out when the job's answer is the record")
    poll_s = _seconds(reader, spec, "poll_s", key, 1.0, "how long to wait before the first poll, e.g. poll_s: 1")
    timeout_s = _seconds(reader, spec, "timeout_s", key, 600.0,
                         "how long a job may take before its command is dead-lettered, e.g. timeout_s: 600")
    if timeout_s < poll_s:
        reader.problem((*key, "timeout_s"), f"timeout_s ({timeout_s:g}) is shorter than poll_s ({poll_s:g}), so "
                       "the job would never be polled", "raise timeout_s above poll_s")
    if len(reader.problems) > reported or when is None or not done:
        return None
    return JobSpec(when=when, path=path, location=location, done=done, failed=failed, message=message,
                   result=result, poll_s=poll_s, timeout_s=timeout_s, line=reader.line(key))


def _when(reader: TargetReader, raw: Any, key: Key) -> tuple[int, ...] | None:
    if raw is None:
        return JOB_STATUSES
    spec = reader.mapping(raw, key, WHEN_KEYS, "job.when")
    if spec is None:
        return None
    status = spec.get("status")
    items = status if isinstance(status, list) else [status]
    if not items or not all(isinstance(s, int) and not isinstance(s, bool) and 200 <= s <= 299 for s in items):
        reader.problem((*key, "status"), f"{status!r} is not a success status or list of them",
                       "write when: {status: 202} (the default), or the 2xx statuses the API answers a job with, "
                       "e.g. when: {status: [200, 202]}")
        return None
    return tuple(dict.fromkeys(items))


def _where(reader: TargetReader, spec: dict[str, Any], key: Key) -> tuple[str | None, bool]:
    """The job's path, or whether it is the Location header's URL: exactly one of them."""
    location = spec.get("location")
    if location is not None and location is not True:
        reader.problem((*key, "location"), f"location takes true, got {location!r}",
                       "write location: true to poll the URL of the Location header, or give path instead")
        return None, False
    if location and "path" in spec:
        reader.problem((*key, "path"), "job names both path and location; it is polled at one of them", WHERE_FIX)
        return None, False
    if location:
        return None, True
    path = reader.string(spec, "path", key, required=True, fix=WHERE_FIX)
    if path is None:
        return None, False
    if not path.startswith("/"):
        reader.problem((*key, "path"), f"{path!r} does not start with /", "give the job's path below the base URL, "
                       "e.g. /jobs/{job_id}")
        return None, False
    names = PLACEHOLDER.findall(path)
    if not names:
        reader.problem((*key, "path"), f"{path!r} names no field of the answer that accepted the job, so every job "
                       "would be polled at the same path", "name the job's id in it, e.g. /jobs/{job_id}")
        return None, False
    for name in names:
        if not _DOTTED.match(name):
            reader.problem((*key, "path"), f"{{{name}}} is not a dotted path into the answer that accepted the job",
                           "write e.g. {job_id} or {job.id}")
            return None, False
    return path, False


def _failed(reader: TargetReader, raw: Any, key: Key) -> tuple[tuple[Condition, ...], str | None]:
    """``failed``: a condition (or a list of them) and, in a mapping, ``message``: the path of the job's error."""
    if raw is None:
        return (), None
    message = None
    if isinstance(raw, dict) and "message" in raw:
        raw = dict(raw)
        message_raw = raw.pop("message")
        if not isinstance(message_raw, str) or not _DOTTED.match(message_raw):
            reader.problem((*key, "message"), f"{message_raw!r} is not a path into the job's answer",
                           "give the dotted path of the job's error message, e.g. message: error")
        else:
            message = message_raw
        if not raw:
            reader.problem(key, "failed has a message but no condition", "add the condition a failed job's answer "
                           "holds, e.g. failed: {path: status, one_of: [failed, error], message: error}")
            return (), None
    return reader.conditions(raw, key, required=True), message


def _seconds(reader: TargetReader, spec: dict[str, Any], name: str, key: Key, default: float, fix: str) -> float:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        reader.problem((*key, name), f"{name} must be a number of seconds above 0, got {value!r}", f"give {fix}")
        return default
    return float(value)


def check_fits(reader: TargetReader, route: HttpRoute, key: Key) -> None:
    """Whether the route's job fits the rest of it: a write one call makes, whose answer is its own."""
    if route.job is None:
        return
    name = f"{route.payload_type.rpartition('.')[2]} {route.operation}"
    if route.method == "GET":
        reader.problem((*key, "job"), f"a GET writes nothing, so it starts no job (route {name})",
                       "remove job, or give the route the method that writes")
    if route.batch is not None:
        reader.problem((*key, "batch"), "a batch call answers many commands at once, and each item's job would have "
                       "to be polled on its own; a route with job sends one call per command",
                       "remove batch, or job")
    if route.parts is not None:
        reader.problem((*key, "parts"), "a route sent in parts makes several writes, each of which the API could "
                       "answer with a job, and job polls the route's own call only", "remove parts, or job")
