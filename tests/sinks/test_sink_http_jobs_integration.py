"""A real ``isthmus sink`` writing through Kafka to an API that creates asynchronously (Signup: ``POST /users``
answers 202 and a job to poll; see signup.py): each entity's create and the update right behind it on the same
partition. The create's attempt polls its job, so the update runs once the user exists: its search by e-mail finds
it and patches it, one user per entity (before, the update ran at the 202, found nobody and made a second user).
A job that fails is dead-lettered with its message, never sent again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from signup import BY_PATH, CREATE, UPDATE, signup
from sink_support import (
    SinkProcess,
    account_payload,
    command,
    customer_number,
    dead_letters_for,
    fresh_topics,
    produce,
    results_for,
)
from support.waiting import eventually

from streams.stack.running import RunningStack

ENTITIES = 6


def test_each_update_waits_for_its_creates_job_and_finds_the_user_it_made(
        stack: RunningStack, run: int, tmp_path: Path) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "erp.yaml").write_text(CREATE.replace("{job}", BY_PATH) + UPDATE.replace("{job}", BY_PATH),
                                      encoding="utf-8")
    numbers = [customer_number(run, i) for i in range(ENTITIES)]
    emails = {n: f"{n.lower()}@example.com" for n in numbers}
    taken = numbers[-1]
    commands: list[dict[str, Any]] = []
    for number in numbers:
        payload = {**account_payload(number, name="Ann"), "email": emails[number]}
        commands.append(command(target="erp", operation="create", payload_type="Account", entity_key=number,
                                payload=payload))
        commands.append(command(target="erp", operation="update", payload_type="Account", entity_key=number,
                                payload={**payload, "name": "Ann Lee"}, changed=["name"]))
    with signup() as api:
        api.fails.add(emails[taken])
        topics, env = fresh_topics(stack, "jobs")
        sink = SinkProcess(stack, "erp", {**env, "ISTHMUS_SINK_TARGETS_DIR": str(targets),
                                          "ISTHMUS_SINK_BASE_URL": api.url + "/api"}, name="jobs")
        try:
            produce(stack, topics.commands, commands)
            applied = {c["command_id"] for c in commands if c["entity_key"] != taken}
            results: list[dict[str, Any]] = eventually(
                "every result", lambda: (found if len(found := results_for(stack, topics.results, applied))
                                         == len(applied) else None), timeout=120)
            # the taken e-mail's create, and its update, whose search finds nobody and so creates: a job that fails
            dead = eventually("the failed jobs' dead letters", lambda: (
                found if len(found := dead_letters_for(stack, topics.dlq, {taken})) == 2 else None), timeout=60)
        finally:
            log = sink.log()
            assert sink.stop() == 0, log[-4000:]
    by_email = sorted((u["email"], u["name"]) for u in api.users.values())
    assert by_email == sorted((emails[n], "Ann Lee") for n in numbers[:-1]), by_email  # one user each, patched
    creates = [r for r in results if r["operation"] == "create"]
    assert sorted(r["assigned_ids"]["account_id"] for r in creates) == sorted(api.users)
    assert all(r["attempts"] == 1 for r in results)
    for letter in dead:
        assert letter.value is not None and letter.value["error_type"] == "TargetError"
        assert "failed: email taken. It is not sent again" in letter.value["reason"]
    assert api.posts() == ["POST /api/users"] * (ENTITIES + 1)  # one per create, and the taken one's update
