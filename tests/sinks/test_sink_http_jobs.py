"""A target that creates asynchronously (a new user's trial against a SaaS signup API, as many are): ``POST /users``
answers ``202 Accepted`` with ``{"job_id": "j_1", "status": "queued"}`` and ``Location: /api/jobs/j_1``, and the
user exists only once ``GET /jobs/j_1`` answers ``{"status": "done", "result": {"id": "u_1", ...}}`` (or
``{"status": "failed", "error": "email taken"}``). A real HTTP server on loopback, driven by the real HTTP adapter
and deliverer.

Before routes could declare a ``job`` the sink took the 202 for the record: no id was read (the 202 has none), and
the entity's next command ran before the user existed, so an update right after the create (an external-id
"search, then create or update") found nobody and made a second user. Now the create's attempt polls the job until
it ends: applied with the job's result, a failed job dead-lettered with its message, a job that never ends
dead-lettered with its URL after ``timeout_s``, a poll answered 503 polled again; the create is never sent twice."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from signup import BY_LOCATION, BY_PATH, CREATE, UPDATE, Signup, signup

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.adapters.jobs import JobPoller
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.config.model import Condition, JobSpec, TargetConfig
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand
from streams.sinks.scheduler import KeyedScheduler

pytestmark = pytest.mark.unit


@pytest.fixture
def api() -> Iterator[Signup]:
    with signup() as served:
        yield served


def account(operation: str = "create", name: str = "Ann", key: str = "key-1") -> SinkCommand:
    return SinkCommand(command_id=f"c-{operation}", idempotency_key=f"{key}-{operation}", target="erp",
                       operation=operation, entity_type="Account", entity_key="C-000001",
                       payload_type="isthmus.canonical.Account",
                       payload={"account_id": None, "account_code": "AC1", "name": name, "email": "ann@example.com"})


def target(tmp_path: Path, text: str) -> TargetConfig:
    path = tmp_path / "erp.yaml"
    path.write_text(text, encoding="utf-8")
    return load_target(path)


def deliver(config: TargetConfig, api: Signup, *commands: SinkCommand) -> tuple[list[Delivered], Deliverer]:
    """``commands`` delivered in the worker's per-entity order (KeyedScheduler: one command of an entity at a time,
    the next once the previous delivery ended), by the real adapter and deliverer."""

    async def go() -> tuple[list[Delivered], Deliverer]:
        adapter = HttpAdapter(config, base_url=api.url + "/api", timeout_s=10, max_connections=4, env={})
        deliverer = Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=5, reset_s=5.0)),
                              config=config, rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.01, maximum=0.05, jitter=0)))
        scheduler: KeyedScheduler[SinkCommand] = KeyedScheduler(concurrency=4)
        for command in commands:
            scheduler.add(command.entity_key, command)
        done: list[Delivered] = []
        try:
            while (taken := scheduler.take()) is not None:
                key, command = taken
                assert scheduler.take() is None  # the entity's next command waits behind this one
                done.append(await deliverer.deliver(command))
                scheduler.finish(key)
        finally:
            await adapter.close()
        return done, deliverer

    return asyncio.run(go())


def test_a_create_answered_with_a_job_is_applied_once_the_job_is_done_with_its_results_ids(
        tmp_path: Path, api: Signup) -> None:
    [delivered], _ = deliver(target(tmp_path, CREATE.replace("{job}", BY_PATH)), api, account())
    outcome = delivered.outcome
    assert isinstance(outcome, Applied), outcome
    assert outcome.ids == {"account_id": "u_1"} and delivered.attempts == 1
    assert outcome.body == {"id": "u_1", "email": "ann@example.com", "name": "Ann"}
    assert outcome.call == "GET /jobs/j_1"
    assert api.seen == ["POST /api/users"] + ["GET /api/jobs/j_1"] * 3  # running, running, done
    assert list(api.users) == ["u_1"]


def test_a_failed_job_is_dead_lettered_with_its_message_and_never_sent_again(tmp_path: Path, api: Signup) -> None:
    api.ends = "failed"
    [delivered], _ = deliver(target(tmp_path, CREATE.replace("{job}", BY_PATH)), api, account())
    outcome = delivered.outcome
    assert isinstance(outcome, Failed) and outcome.kind == "permanent" and delivered.attempts == 1
    assert outcome.error_type == "TargetError"
    assert outcome.reason.startswith("ERP's job /jobs/j_1 (accepted with 202 for POST /users) failed: email taken. "
                                     "It is not sent again: the API may have made the record")
    assert outcome.answer == {"job_id": "j_1", "status": "failed", "error": "email taken"}
    assert api.posts() == ["POST /api/users"] and not api.users


def test_a_job_that_never_ends_is_dead_lettered_with_its_url_and_last_status_and_counted(
        tmp_path: Path, api: Signup) -> None:
    api.ends = "never"
    config = target(tmp_path, CREATE.replace("{job}", BY_PATH.replace("timeout_s: 5", "timeout_s: 0.3")))
    [delivered], deliverer = deliver(config, api, account())
    outcome = delivered.outcome
    assert isinstance(outcome, Failed) and outcome.kind == "permanent" and delivered.attempts == 1
    assert outcome.error_type == "JobTimedOut" and outcome.call == "GET /jobs/j_1"
    assert outcome.reason.startswith("ERP's job /jobs/j_1 (accepted with 202 for POST /users) had not ended 0.3 s "
                                     "after it was accepted (job.timeout_s of the route at erp.yaml:10; ")
    assert "its last status: running). It is not sent again" in outcome.reason
    assert "check the job in ERP (GET /jobs/j_1); once it is done settle the dead letter" in outcome.reason
    assert "isthmus topics dlq replay" in outcome.reason
    assert deliverer.jobs_timed_out == 1
    assert api.posts() == ["POST /api/users"] and set(api.polls()) == {"GET /api/jobs/j_1"}
    assert 3 <= len(api.polls()) <= 8  # 0.01 s, then doubling: not a poll per millisecond


def test_a_job_is_polled_at_the_location_the_202_answers(tmp_path: Path, api: Signup) -> None:
    """``Location: /api/jobs/j_1`` is a path of the host, resolved against the write's URL (the base URL has a path
    of its own, /api): polled at /api/jobs/j_1, not /api/api/jobs/j_1."""
    [delivered], _ = deliver(target(tmp_path, CREATE.replace("{job}", BY_LOCATION)), api, account())
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert delivered.outcome.ids == {"account_id": "u_1"}
    assert api.seen == ["POST /api/users"] + ["GET /api/jobs/j_1"] * 3


def test_a_location_at_another_host_is_not_polled_with_the_targets_credentials(tmp_path: Path, api: Signup) -> None:
    api.location = "https://elsewhere.example/jobs/j_1"
    [delivered], _ = deliver(target(tmp_path, CREATE.replace("{job}", BY_LOCATION)), api, account())
    outcome = delivered.outcome
    assert isinstance(outcome, Failed) and outcome.error_type == "JobUnread" and outcome.kind == "permanent"
    assert "with its job at 'https://elsewhere.example/jobs/j_1', which is not below " in outcome.reason
    assert api.seen == ["POST /api/users"]


def test_a_poll_answered_503_polls_the_same_job_again_and_posts_once(tmp_path: Path, api: Signup) -> None:
    api.unavailable = 2
    [delivered], _ = deliver(target(tmp_path, CREATE.replace("{job}", BY_PATH)), api, account())
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert delivered.attempts == 1 and delivered.outcome.ids == {"account_id": "u_1"}
    assert api.posts() == ["POST /api/users"]
    assert api.polls() == ["GET /api/jobs/j_1"] * 5  # 503, 503, running, running, done
    assert list(api.users) == ["u_1"]


def test_a_job_the_api_lost_is_dead_lettered_saying_the_record_may_exist(tmp_path: Path, api: Signup) -> None:
    api.lost = True
    [delivered], _ = deliver(target(tmp_path, CREATE.replace("{job}", BY_PATH)), api, account())
    outcome = delivered.outcome
    assert isinstance(outcome, Failed) and outcome.error_type == "JobUnread" and delivered.attempts == 1
    assert outcome.reason.startswith("ERP's job /jobs/j_1 (accepted with 202 for POST /users) could not be polled: "
                                     'ERP answered 404 to GET /jobs/j_1: {"error":"no such job"}. It is not sent again')
    assert api.posts() == ["POST /api/users"]


def test_a_create_sent_again_under_its_key_polls_the_same_job_and_makes_one_user(tmp_path: Path,
                                                                                 api: Signup) -> None:
    """A worker restarted mid-job sends the create again under the same idempotency key: an API honouring it
    answers the same job."""
    config = target(tmp_path, CREATE.replace("{job}", BY_PATH))
    [first], _ = deliver(config, api, account())
    [again], _ = deliver(config, api, account())
    assert isinstance(first.outcome, Applied) and isinstance(again.outcome, Applied)
    assert first.outcome.ids == again.outcome.ids == {"account_id": "u_1"}
    assert api.posts() == ["POST /api/users"] * 2 and set(api.polls()) == {"GET /api/jobs/j_1"}
    assert list(api.users) == ["u_1"]


def test_the_update_right_after_the_create_finds_the_user_the_job_made_not_a_second_one(tmp_path: Path,
                                                                                       api: Signup) -> None:
    """The trial's failure: the update's search by e-mail ran while the create's job was still running, found
    nobody, and created a second user. Now it runs after the job is done, finds u_1 and patches it."""
    config = target(tmp_path, CREATE.replace("{job}", BY_PATH) + UPDATE.replace("{job}", BY_PATH))
    created, updated = deliver(config, api, account(), account("update", name="Ann Lee"))[0]
    assert isinstance(created.outcome, Applied) and isinstance(updated.outcome, Applied), updated.outcome
    assert updated.outcome.ids == {"account_id": "u_1"}
    assert api.users == {"u_1": {"id": "u_1", "email": "ann@example.com", "name": "Ann Lee"}}
    assert api.seen == (["POST /api/users"] + ["GET /api/jobs/j_1"] * 3 + ["GET /api/users", "PATCH /api/users/u_1"])


def test_an_external_id_routes_create_answered_with_a_job_reads_the_created_id_from_its_result(
        tmp_path: Path, api: Signup) -> None:
    config = target(tmp_path, CREATE.replace("{job}", BY_PATH) + UPDATE.replace("{job}", BY_PATH))
    [delivered], _ = deliver(config, api, account("update"))  # nobody to update: the upsert creates
    outcome = delivered.outcome
    assert isinstance(outcome, Applied), outcome
    assert outcome.ids == {"account_id": "u_1"} and outcome.body["upsert"] == "created"
    assert api.seen == ["GET /api/users", "POST /api/users"] + ["GET /api/jobs/j_1"] * 3


def test_an_answer_not_a_job_is_applied_as_it_is(tmp_path: Path, api: Signup) -> None:
    """A route whose job is declared for 200 only takes the API's 202 as before: applied, nothing polled."""
    config = target(tmp_path, CREATE.replace("{job}", "      when: {status: 200}\n" + BY_PATH))
    [delivered], _ = deliver(config, api, account())
    assert isinstance(delivered.outcome, Applied) and delivered.outcome.status == 202
    assert api.seen == ["POST /api/users"]


def test_a_long_job_is_said_once_a_minute_not_per_poll(caplog: pytest.LogCaptureFixture) -> None:
    """Polled every 30 s at most (1, 2, 4, ... 30 s), a job running for 200 s is logged at 60, 120 and 180 s."""
    now = [0.0]
    polls: list[str] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    async def poll(where: str) -> Attempt:
        polls.append(where)
        status = "done" if now[0] >= 200 else "running"
        return Applied(status=200, body={"status": status, "result": {"id": "u_9"}})

    spec = JobSpec(path="/jobs/{job_id}", done=(Condition(path="status", test="equals", value="done"),),
                   result="result", timeout_s=600, line=10)
    poller = JobPoller(system="ERP", target_file="erp.yaml", base_url="http://api.test", poll=poll,
                       clock=lambda: now[0], sleep=sleep)
    with caplog.at_level(logging.INFO, logger="isthmus.sink"):
        outcome = asyncio.run(poller.outcome(spec, Applied(status=202, body={"job_id": "j_9"}), call="POST /users",
                                             path="/users", ids={"account_id": "id"}, entity="C-000009"))
    assert isinstance(outcome, Applied) and outcome.ids == {"account_id": "u_9"}
    assert len(polls) == 11  # at 1, 3, 7, 15, 31, 61, 91, 121, 151, 181, 211 s
    said = [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    assert len(said) == 3, said
    assert said[0] == ("sink erp: ERP's job /jobs/j_9 (accepted with 202 for POST /users) for C-000009 still "
                       "running after 61 s (6 polls; its last status: running); polled until 600 s")
