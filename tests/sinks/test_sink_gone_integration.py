"""Deleting what is not there, against the real reference ERP and a real `isthmus sink`: an Account deactivate
whose account the ERP does not have (never made, or deleted from its database) is applied as gone by the shipped
targets/erp.yaml (a result saying so at ``$gone``, said once at INFO, no dead letter), while a live account is
deactivated as before; and a deactivate route whose path is wrong (a typo in the target file, answered 404 with
field ``path``) is still dead-lettered, saying why it was not taken for gone, the account left active."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pymysql
from sink_support import (
    SinkProcess,
    account_payload,
    api,
    command,
    customer_number,
    dead_letters_for,
    erp_rows,
    fresh_topics,
    produce,
    results_for,
)
from support.waiting import eventually

from streams.sinks.records import result_applied, result_gone
from streams.stack.running import RunningStack
from streams.stack.settings import PROJECT_ROOT


def deactivate(number: str, account_id: int | None = None) -> dict[str, Any]:
    return command(target="erp", operation="deactivate", payload_type="Account", entity_key=number,
                   payload=account_payload(number, account_id=account_id, active=False))


def make_account(stack: RunningStack, number: str) -> int:
    with api(stack, "erp") as erp:
        made = erp.post("/accounts", json={"name": "Gone test", "crm_customer_number": number})
        assert made.status_code == 201, made.text
        account_id: int = made.json()["account_id"]
        return account_id


def test_a_deactivate_of_an_account_the_erp_has_not_is_applied_as_gone(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    never, deleted, live = customer_number(run, 0), customer_number(run, 1), customer_number(run, 2)
    deleted_id, live_id = make_account(stack, deleted), make_account(stack, live)
    with erp_db.cursor() as cur:  # a person deleted it in the ERP's database (it has no orders yet)
        cur.execute("DELETE FROM accounts WHERE account_id = %s", (deleted_id,))
    commands = [deactivate(never), deactivate(deleted, deleted_id), deactivate(live)]
    topics, env = fresh_topics(stack, "gone")
    produce(stack, topics.commands, commands)
    ids = {c["command_id"] for c in commands}
    sink = SinkProcess(stack, "erp", env, name="gone")
    try:
        found = eventually("three results", lambda: (lambda got: got if len(got) == 3 else None)(
            results_for(stack, topics.results, ids)), timeout=120)
    finally:
        assert sink.stop() == 0, sink.log()[-4000:]
    results = {r["entity_key"]: r for r in found}
    assert dead_letters_for(stack, topics.dlq, {never, deleted, live}) == []

    by_lookup, by_id, applied = results[never], results[deleted], results[live]
    assert by_lookup["status"] == 404 and not result_applied(by_lookup)
    assert result_gone(by_lookup) == (f"ERP answered 404 to lookup account_id (GET /accounts/by-customer/{never}): "
                                      f'{{"error":"no account with crm_customer_number \'{never}\'","field":'
                                      '"crm_customer_number","fix":"check crm_customer_number, or list the accounts '
                                      'to find it"}')
    assert json.loads(by_lookup["response"])["field"] == "crm_customer_number", "the ERP's answer is kept"
    assert by_id["status"] == 404 and result_gone(by_id) is not None
    assert result_gone(by_id).startswith(f"ERP answered 404 to DELETE /accounts/{deleted_id}: ")  # type: ignore[union-attr]
    assert by_lookup["assigned_ids"] == by_id["assigned_ids"] == {}
    assert applied["status"] == 200 and result_gone(applied) is None and result_applied(applied)
    assert applied["assigned_ids"]["account_id"] == str(live_id)
    [row] = erp_rows(erp_db, "SELECT active FROM accounts WHERE account_id = %s", live_id)
    assert row["active"] == 0
    assert erp_rows(erp_db, "SELECT 1 FROM accounts WHERE crm_customer_number IN (%s, %s)", never, deleted) == [], \
        "nothing created to be deactivated"

    log = sink.log()
    said = [line for line in log.splitlines() if "already gone, the state the command asks for" in line]
    assert len(said) == 1 and " INFO " in said[0] and "route Account deactivate (erp.yaml:" in said[0], said
    assert "counted in isthmus_sink_gone_total" in said[0]
    assert "(0 replayed, 2 gone)" in log, "the summary line counts them"


def test_a_deactivate_route_with_a_wrong_path_is_still_dead_lettered(
        stack: RunningStack, run: int, tmp_path: Path, erp_db: pymysql.connections.Connection[Any]) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    shipped = (PROJECT_ROOT / "targets" / "erp.yaml").read_text(encoding="utf-8")
    assert shipped.count("    path: /accounts/{account_id}\n") == 2  # the update's and the deactivate's
    typo = shipped.replace("    method: DELETE\n    path: /accounts/{account_id}\n",
                           "    method: DELETE\n    path: /acounts/{account_id}\n")
    assert typo != shipped
    (targets / "erp.yaml").write_text(typo, encoding="utf-8")
    shutil.copy(PROJECT_ROOT / "targets" / "crm.yaml", targets / "crm.yaml")
    number = customer_number(run, 0)
    account_id = make_account(stack, number)
    topics, env = fresh_topics(stack, "gone-typo")
    sent = deactivate(number)
    produce(stack, topics.commands, [sent])
    sink = SinkProcess(stack, "erp", {**env, "ISTHMUS_SINK_TARGETS_DIR": str(targets)}, name="gone-typo")
    try:
        [letter] = eventually("the dead letter", lambda: dead_letters_for(stack, topics.dlq, {number}), timeout=90)
    finally:
        assert sink.stop() == 0, sink.log()[-4000:]
    assert letter.value is not None and letter.value["error_type"] == "Http404"
    reason = letter.value["reason"]
    assert f"ERP answered 404 to DELETE /acounts/{account_id}" in reason and '"field":"path"' in reason
    assert ("not taken for gone: the route's gone (erp.yaml:" in reason
            and "takes 404 only where field one_of ('account_id', 'crm_customer_number'), which this answer does not "
                "hold (a wrong path in the target file, or another record missing?)" in reason), reason
    assert results_for(stack, topics.results, {sent["command_id"]}) == []
    [row] = erp_rows(erp_db, "SELECT active FROM accounts WHERE account_id = %s", account_id)
    assert row["active"] == 1, "nothing silently swallowed: the account is still active"
    assert "already gone" not in sink.log()
