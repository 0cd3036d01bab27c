"""`isthmus topics dlq replay` re-derives a dead-lettered command on the real stack: the entity flow (a flow file of
this test's own, under its own name), an ERP and a CRM sink through the reference APIs, on this test's own
command, result and dead-letter topics.

A CRM customer is renamed and given an e-mail the ERP refuses, in one transaction: the ``update`` is refused
(422) and dead-lettered; the flow reads the dead letter and no longer takes the ERP to hold what it carried. The
e-mail is then fixed in the CRM: that change sends the fixed e-mail and the name the ERP never got, checked with
SQL. The stored command would bring the refused e-mail again; the replay, by default, has the flow derive it from
the current state, which the ERP already holds: nothing is refused again and the ERP keeps both."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from customer_stack import Databases, Mine, only, reader, sink_loop_topics, sinks
from support.cli import isthmus
from support.flows import RunningFlow
from support.systems import reference_systems
from support.waiting import eventually

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, entity_config
from streams.flows.files import FLOWS_DIR, FLOWS_DIR_ENV, load_flow_files
from streams.mapping import load_mappings
from streams.stack.running import RunningStack

pytestmark = pytest.mark.integration

WAIT_S = 90.0
UPDATE = "UPDATE crm.customers SET {} = %s, version = version + 1 WHERE customer_number = %s"


def _flow_file(folder: Path, name: str) -> Path:
    """The project's customers flow file under this test's flow name."""
    folder.mkdir()
    lines = (FLOWS_DIR / "customers.yaml").read_text(encoding="utf-8").splitlines()
    (folder / "customers.yaml").write_text("\n".join(
        f"name: {name}" if line.startswith("name: ") else line for line in lines) + "\n", encoding="utf-8")
    return folder


def _dlq(folder: Path, *args: str) -> list[dict[str, Any]]:
    """``isthmus topics dlq ARGS --json``: its JSON lines, one object per dead letter."""
    done = isthmus("topics", "dlq", *args, "--json", env={**os.environ, FLOWS_DIR_ENV: str(folder)})
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_replayed_update_applies_the_current_values(stack: RunningStack, tmp_path: Path) -> None:
    bootstrap = stack.settings.bootstrap_servers
    schemas = SchemaStore.from_directory()
    run = uuid.uuid4().hex[:8]
    name = f"isthmus-customers-rederive-{run}"
    flows = _flow_file(tmp_path / "flows", name)
    topics, dlq = sink_loop_topics(bootstrap, run, partitions=1)
    systems = reference_systems(stack.settings.erp_time_zone)
    mappings = load_mappings(schemas=schemas.schemas)
    (flow_file,) = [f for f in load_flow_files(flows) if f.block == "entity"]
    flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=systems,
                        config=entity_config(flow_file, mappings, schemas.schemas.named, systems),
                        command_topics={s: t["ISTHMUS_SINK_COMMAND_TOPIC"] for s, t in topics.items()},
                        dead_letter_topic=dlq)
    mine = Mine()
    db = Databases(stack=stack, mine=mine)
    number = f"C-6{int(run, 16) % 10**8:08d}"
    mine.numbers.add(number)

    def account() -> Mapping[str, Any] | None:
        rows = db.erp_rows("SELECT name, email FROM accounts WHERE crm_customer_number = %s", number)
        return {"name": rows[0][0], "email": rows[0][1]} if rows else None

    def crm(*statements: tuple[str, tuple[Any, ...]]) -> None:
        with stack.connect_crm() as conn, conn.transaction():
            for sql, params in statements:
                conn.execute(sql, params)

    with (reader(bootstrap, [dlq], lambda data: schemas.decode(data).value) as letters,
          RunningFlow(only(flow.spec(), mine, name, dead_letters=dlq), bootstrap, schemas),
          sinks(topics, run, schemas)):
        crm(("INSERT INTO crm.customers (customer_number, name, email) VALUES (%s, %s, %s)",
             (number, "Rederive", "a@rederive.test")))
        eventually(f"{number} linked in the CRM", lambda: db.crm(
            "SELECT erp_account_id FROM crm.customers WHERE customer_number = %s", number), tmp_path, timeout=WAIT_S)

        crm((UPDATE.format("name"), ("Rederive Ltd", number)), (UPDATE.format("email"), ("not an email", number)))
        letters.until(f"the ERP's refusal of {number}'s update",
                      lambda seen: any(k == number and "stage" in v for _, k, v in seen), timeout=WAIT_S)
        (listed,) = [d for d in _dlq(flows, "list", "--topic", dlq) if d["entity"] == number]
        assert listed["stage"] == "sink.erp" and "email" in listed["reason"].lower()

        crm((UPDATE.format("email"), ("b@rederive.test", number)))
        eventually("the fixed e-mail in the ERP", lambda: (account() or {}).get("email") == "b@rederive.test" or None,
                   tmp_path, timeout=WAIT_S)
        assert account() == {"name": "Rederive Ltd", "email": "b@rederive.test"}, "the refused name went again"

        (replayed,) = _dlq(flows, "replay", f"{listed['partition']}:{listed['offset']}", "--topic", dlq)
        assert (replayed["way"], replayed["flow"]) == ("rederive", name), replayed
        assert replayed["to"].startswith(f"{dlq}[")
        eventually("the current name in the ERP", lambda: (account() or {}).get("name") == "Rederive Ltd" or None,
                   tmp_path, timeout=WAIT_S)
        assert account() == {"name": "Rederive Ltd", "email": "b@rederive.test"}
        letters.poll()
        refused = [v for _, k, v in letters.seen if k == number and "stage" in v]
        assert len(refused) == 1, [v["reason"] for v in refused]  # the replay did not fail again
