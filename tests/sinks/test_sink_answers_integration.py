"""Answers read as they are meant, against a real server: the reference ERP's ``/enveloped`` routes answer
every call with HTTP 200 and ``{"result", "error"}`` (as JSON-RPC APIs do). A real ``isthmus sink`` process
with a target whose route declares answer rules applies the good command (its ids read from inside
``result``), retries the one answered with a ``TemporaryError`` until it goes through, and dead-letters the one
answered with a ``ConflictError`` under HTTP 200, with the ERP's own message."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
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

from reference.common.server import ThreadedServer
from reference.erp.app import create_app
from reference.erp.config import ErpConfig
from streams.stack.running import RunningStack

TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /enveloped/accounts
    body:
      account_code: account_code
      crm_customer_number: crm_customer_number
      name: name
    ids: {account_id: result.account_id, account_code: result.account_code}
    on_conflict: dead_letter
    answers:
      error:
        when: error
        message: error.1
        transient: {path: error.0, equals: TemporaryError}
      success: result
"""


@pytest.fixture
def enveloped_erp(stack: RunningStack) -> Iterator[str]:
    """The reference ERP (this checkout's code) over a database of its own, served on a free port."""
    s = stack.settings
    database = f"erp_answers_{uuid.uuid4().hex[:10]}"
    app = create_app(ErpConfig.from_env({
        "REFERENCE_DB_HOST": s.host, "REFERENCE_DB_PORT": str(s.erp_db_port), "REFERENCE_DB_USER": s.db_user,
        "REFERENCE_DB_PASSWORD": stack.secrets.erp_db_password.reveal(), "REFERENCE_DB_NAME": database}))
    try:
        with ThreadedServer(app) as server:
            yield server.url
    finally:
        app.state.transactions.pool.close()
        erp = stack.connect_erp(autocommit=True)
        try:
            with erp.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        finally:
            erp.close()


def test_an_error_under_200_is_dead_lettered_with_its_message_and_a_transient_one_retried(
        stack: RunningStack, run: int, tmp_path: Path, enveloped_erp: str) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "erp.yaml").write_text(textwrap.dedent(TARGET), encoding="utf-8")
    first, retried = customer_number(run, 0), customer_number(run, 1)
    with httpx.Client(base_url=enveloped_erp, timeout=30) as erp:
        # The server answers a refused call with 200: what a sink reading only the status would record as applied.
        taken = erp.post("/enveloped/accounts", json={"name": "Taken", "crm_customer_number": first})
        again = erp.post("/enveloped/accounts", json={"name": "Taken", "crm_customer_number": first})
        assert taken.status_code == again.status_code == 200, (taken.text, again.text)
        assert again.json()["error"][:2] == ["ConflictError",
                                             f"an account for CRM customer {first} already exists"]
        # The next two writes fail as 503 inside, answered 200 with a TemporaryError.
        assert erp.post("/_faults", json={"mode": "error", "status": 503, "count": 2}).status_code == 200

        good = command(target="erp", operation="create", payload_type="Account", entity_key=retried,
                       payload=account_payload(retried, name="Retried"))
        duplicate = command(target="erp", operation="create", payload_type="Account", entity_key=first,
                            payload=account_payload(first, name="Duplicate"))
        topics, env = fresh_topics(stack, "answers")
        produce(stack, topics.commands, [good, duplicate])
        sink = SinkProcess(stack, "erp", {**env, "ISTHMUS_SINK_TARGETS_DIR": str(targets),
                                          "ISTHMUS_SINK_BASE_URL": enveloped_erp,
                                          "ISTHMUS_SINK_RETRY_BASE_S": "0.05"}, name="answers")
        try:
            letters = eventually("the dead letter", lambda: dead_letters_for(stack, topics.dlq, {first}), timeout=90)
            results: list[dict[str, Any]] = eventually(
                "the retried command's result", lambda: results_for(stack, topics.results, {good["command_id"]}),
                timeout=90)
        finally:
            assert sink.stop() == 0, sink.log()
        created = erp.get("/accounts", params={"crm_customer_number": retried}).json()["items"]

    assert len(letters) == 1 and letters[0].value is not None
    letter = letters[0].value
    assert letter["error_type"] == "TargetError" and letter["stage"] == "sink.erp"
    assert (f"ERP answered 200 to POST /enveloped/accounts with an error: an account for CRM customer {first} "
            "already exists") in letter["reason"]
    assert len(results) == 1 and results[0]["status"] == 200 and len(created) == 1
    assert results[0]["assigned_ids"] == {"account_id": str(created[0]["account_id"]),
                                          "account_code": created[0]["account_code"]}
    # The two TemporaryErrors were retried (whichever command met them), never dead-lettered: four calls in all.
    assert results[0]["attempts"] + letter["attempts"] == 4
