"""A route's ``job`` (an API that answers a create with ``202 Accepted`` and a job to poll) loads as typed values,
and a wrong one is refused at load with file, line, key and fix, alone and against the rest of its route."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streams.sinks.config import HttpRoute, load_target
from streams.sinks.config.model import Condition, JobSpec
from streams.sinks.exceptions import TargetConfigError

pytestmark = pytest.mark.unit

HEAD = """\
system: erp
adapter: http
routes:
"""
CREATE = """\
- payload_type: Account
  operation: create
  method: POST
  path: /users
  body: {email: email, name: name}
  ids: {account_id: id}
"""


def write(tmp_path: Path, routes: str) -> Path:
    path = tmp_path / "erp.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(routes), "  "), encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(TargetConfigError) as caught:
        load_target(path)
    return str(caught.value)


def route_of(path: Path, operation: str = "create") -> HttpRoute:
    route = load_target(path).route("isthmus.canonical.Account", operation)
    assert isinstance(route, HttpRoute)
    return route


def job(text: str) -> str:
    return CREATE + textwrap.indent(textwrap.dedent(text), "  ")


def test_a_job_polled_at_a_path_loads_with_its_defaults_and_shows_in_the_plan(tmp_path: Path) -> None:
    route = route_of(write(tmp_path, job("""\
        job:
          path: /jobs/{job_id}
          done: {path: status, one_of: [done, completed]}
          failed: {path: status, one_of: [failed, error], message: error}
          result: result
        """)))
    assert route.job == JobSpec(when=(202,), path="/jobs/{job_id}", location=False,
                                done=(Condition(path="status", test="one_of", value=("done", "completed")),),
                                failed=(Condition(path="status", test="one_of", value=("failed", "error")),),
                                message="error", result="result", poll_s=1.0, timeout_s=600.0, line=10)
    assert route.plan() == "POST /users, then GET /jobs/{job_id} until status one_of ('done', 'completed')"


def test_a_job_polled_at_the_location_header_loads_with_its_own_statuses_and_times(tmp_path: Path) -> None:
    route = route_of(write(tmp_path, job("""\
        job: {when: {status: [200, 202]}, location: true, done: finished_at, poll_s: 0.5, timeout_s: 60}
        """)))
    assert route.job is not None
    assert (route.job.when, route.job.path, route.job.location) == ((200, 202), None, True)
    assert route.job.done == (Condition(path="finished_at"),) and route.job.failed == ()
    assert (route.job.poll_s, route.job.timeout_s, route.job.result) == (0.5, 60.0, None)
    assert route.plan().endswith("then GET the answer's Location until finished_at present")


def test_a_route_without_job_has_none(tmp_path: Path) -> None:
    assert route_of(write(tmp_path, CREATE)).job is None


@pytest.mark.parametrize(("text", "expected"), [
    ("job: {path: '/jobs/{job_id}', done: status, poll: 2}",
     "erp.yaml:10: routes[0].job.poll: 'poll' is not a key of job; fix: remove it, or use one of when, path, "
     "location, done, failed, result, poll_s, timeout_s"),
    ("job: {path: '/jobs/{job_id}'}",
     "erp.yaml:10: routes[0].job.done: done is missing: nothing would say the job has ended; fix: give the condition "
     "the finished job's answer holds, e.g. done: {path: status, one_of: [done, completed]}"),
    ("job: {done: status}",
     "erp.yaml:10: routes[0].job.path: path is missing; fix: give path: /jobs/{job_id} (each {name} a dotted path "
     "into the answer that accepted the job), or location: true to poll the URL of that answer's Location header"),
    ("job: {path: '/jobs/{job_id}', location: true, done: status}",
     "erp.yaml:10: routes[0].job.path: job names both path and location; it is polled at one of them; fix: give "
     "path: /jobs/{job_id}"),
    ("job: {location: false, done: status}",
     "erp.yaml:10: routes[0].job.location: location takes true, got False; fix: write location: true to poll the URL "
     "of the Location header, or give path instead"),
    ("job: {path: /jobs/current, done: status}",
     "erp.yaml:10: routes[0].job.path: '/jobs/current' names no field of the answer that accepted the job, so every "
     "job would be polled at the same path; fix: name the job's id in it, e.g. /jobs/{job_id}"),
    ("job: {path: 'jobs/{job_id}', done: status}",
     "erp.yaml:10: routes[0].job.path: 'jobs/{job_id}' does not start with /; fix: give the job's path below the "
     "base URL, e.g. /jobs/{job_id}"),
    ("job: {when: {status: 404}, path: '/jobs/{job_id}', done: status}",
     "erp.yaml:10: routes[0].job.when.status: 404 is not a success status or list of them; fix: write when: "
     "{status: 202} (the default)"),
    ("job: {path: '/jobs/{job_id}', done: status, failed: {message: error}}",
     "erp.yaml:10: routes[0].job.failed: failed has a message but no condition; fix: add the condition a failed "
     "job's answer holds, e.g. failed: {path: status, one_of: [failed, error], message: error}"),
    ("job: {path: '/jobs/{job_id}', done: {path: status, one_of: done}}",
     "erp.yaml:10: routes[0].job.done.one_of: one_of takes a non-empty list; fix: write one_of: [a, b]"),
    ("job: {path: '/jobs/{job_id}', done: status, poll_s: 10, timeout_s: 5}",
     "erp.yaml:10: routes[0].job.timeout_s: timeout_s (5) is shorter than poll_s (10), so the job would never be "
     "polled; fix: raise timeout_s above poll_s"),
    ("job: {path: '/jobs/{job_id}', done: status, timeout_s: 0}",
     "erp.yaml:10: routes[0].job.timeout_s: timeout_s must be a number of seconds above 0, got 0; fix: give how long "
     "a job may take before its command is dead-lettered, e.g. timeout_s: 600"),
    ("job: {path: '/jobs/{job_id}', done: status, result: 'result[0]'}",
     "erp.yaml:10: routes[0].job.result: 'result[0]' is not a valid result; fix: give the dotted path of the record "
     "in the finished job's answer, e.g. result"),
    ("job: /jobs/{job_id}",
     "erp.yaml:10: routes[0].job: job must be a mapping, got text; fix: write it as keys: when, path, location"),
])
def test_a_wrong_job_is_refused_with_its_line_key_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refused(write(tmp_path, job(text)))


def test_a_job_is_refused_with_batch_and_on_a_get(tmp_path: Path) -> None:
    batched = refused(write(tmp_path, job("""\
        batch: {method: POST, path: /users/batch}
        job: {path: '/jobs/{job_id}', done: status}
        """)))
    assert ("erp.yaml:10: routes[0].batch: a batch call answers many commands at once, and each item's job would "
            "have to be polled on its own; a route with job sends one call per command; fix: remove batch, or "
            "job") in batched
    read = refused(write(tmp_path, """\
        - payload_type: Account
          operation: update
          method: GET
          path: /users/{account_id}
          job: {path: '/jobs/{job_id}', done: status}
        """))
    assert ("erp.yaml:8: routes[0].job: a GET writes nothing, so it starts no job (route Account update); fix: "
            "remove job, or give the route the method that writes") in read
