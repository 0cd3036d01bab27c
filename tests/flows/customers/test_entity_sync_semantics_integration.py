"""Sync semantics on the real stack, written as a user would, with raw SQL in the CRM: the entity flow (on the
engine, its net effect per source transaction joined along the real Debezium transaction topic), an ERP and a
CRM sink writing through the reference APIs, on this test's own command, result and dead-letter topics.

- inserted, updated and deleted in one CRM transaction: no ERP account, no command;
- three updates in one transaction: one ``update`` command;
- a create the ERP refuses (422, dead-lettered), then the CRM row corrected: the account is made;
- deleted, then made again under the same customer number: the ERP account is active again;
- its primary key changed with its number (Debezium's delete and create, the create with ``__debezium.oldkey``):
  the new number gets an account of its own, linked back over the old account's id the row copied."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from customer_stack import Databases, Keyed, Mine, only, reader, sink_loop_topics, sinks
from support.flows import RunningFlow
from support.systems import reference_systems
from support.topics import TopicReader
from support.waiting import eventually

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.mapping import load_mappings
from streams.stack.running import RunningStack

pytestmark = pytest.mark.integration

WAIT_S = 90.0


@dataclass
class Loop:
    db: Databases
    commands: TopicReader[Keyed]
    dlq: TopicReader[Keyed]
    chance: random.Random

    def number(self) -> str:
        number = f"C-7{self.chance.randrange(10**8, 10**9)}"
        self.db.mine.numbers.add(number)
        return number

    def crm_transaction(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """Run ``statements`` in one CRM transaction."""
        with self.db.stack.connect_crm() as conn, conn.transaction():
            for sql, params in statements:
                conn.execute(sql, params)

    def commands_for(self, number: str) -> list[tuple[str, str, tuple[str, ...]]]:
        self.commands.poll()
        return [(v["payload_type"].rpartition(".")[2], v["operation"], tuple(v["changed_fields"]))
                for _, k, v in self.commands.seen if k == number]

    def account(self, number: str) -> tuple[Any, ...] | None:
        rows = self.db.erp_rows("SELECT account_id, name, email, active FROM accounts WHERE crm_customer_number = %s",
                                number)
        return rows[0] if rows else None


@pytest.fixture(scope="module")
def loop(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    bootstrap = stack.settings.bootstrap_servers
    schemas = SchemaStore.from_directory()
    run = uuid.uuid4().hex[:8]
    topics, dlq = sink_loop_topics(bootstrap, run, partitions=3)
    flow = CustomerFlow(mappings=load_mappings(schemas=schemas.schemas), schemas=schemas,
                        systems=reference_systems(stack.settings.erp_time_zone),
                        command_topics={s: t["ISTHMUS_SINK_COMMAND_TOPIC"] for s, t in topics.items()},
                        dead_letter_topic=dlq)
    assert flow.transactions.net, "the reference flow decides per source transaction by default"
    mine = Mine()
    spec = only(flow.spec(), mine, f"isthmus-customers-txnet-{run}", dead_letters=dlq)

    def value(data: bytes) -> Mapping[str, Any]:
        return schemas.decode(data).value

    with (reader(bootstrap, [t["ISTHMUS_SINK_COMMAND_TOPIC"] for t in topics.values()], value) as commands,
          reader(bootstrap, [dlq], value) as letters,
          RunningFlow(spec, bootstrap, schemas, start="beginning"), sinks(topics, run, schemas)):
        yield Loop(db=Databases(stack=stack, mine=mine), commands=commands, dlq=letters,
                   chance=random.Random(run))


def test_created_updated_and_deleted_in_one_transaction_makes_no_account(loop: Loop, tmp_path: Any) -> None:
    ghost, witness = loop.number(), loop.number()
    loop.crm_transaction(
        ("INSERT INTO crm.customers (customer_number, name) VALUES (%s, %s)", (ghost, "Ghost")),
        ("UPDATE crm.customers SET name = %s, version = version + 1 WHERE customer_number = %s", ("Ghost 2", ghost)),
        ("DELETE FROM crm.customers WHERE customer_number = %s", (ghost,)))
    loop.crm_transaction(("INSERT INTO crm.customers (customer_number, name) VALUES (%s, %s)", (witness, "Witness")))
    # the later transaction's account shows the flow went past the first one
    eventually(f"the ERP account of {witness}", lambda: loop.account(witness), tmp_path, timeout=WAIT_S)
    assert loop.account(ghost) is None and loop.commands_for(ghost) == []


def test_three_updates_in_one_transaction_make_one_update(loop: Loop, tmp_path: Any) -> None:
    number = loop.number()
    loop.crm_transaction(("INSERT INTO crm.customers (customer_number, name) VALUES (%s, %s)", (number, "Three")))
    eventually(f"{number} linked in the CRM", lambda: loop.db.crm(
        "SELECT erp_account_id FROM crm.customers WHERE customer_number = %s", number), tmp_path, timeout=WAIT_S)
    before = len(loop.commands_for(number))
    update = "UPDATE crm.customers SET {} = %s, version = version + 1 WHERE customer_number = %s"
    loop.crm_transaction((update.format("name"), ("Three 1", number)),
                         (update.format("email"), ("t@three.test", number)),
                         (update.format("name"), ("Three 3", number)))
    eventually(f"{number}'s account renamed", lambda: (loop.account(number) or (None, None))[1] == "Three 3" or None,
               tmp_path, timeout=WAIT_S)
    after = loop.commands_for(number)[before:]
    assert [(p, o) for p, o, _ in after if p == "Account"] == [("Account", "update")], after
    assert loop.account(number)[2] == "t@three.test"


def test_a_refused_create_is_made_once_the_crm_row_is_corrected(loop: Loop, tmp_path: Any) -> None:
    number = loop.number()
    loop.crm_transaction(("INSERT INTO crm.customers (customer_number, name, email) VALUES (%s, %s, %s)",
                          (number, "Refused", "not an email")))
    loop.dlq.until(f"the ERP's refusal of {number}'s create",
                   lambda seen: any(k == number for _, k, _ in seen), timeout=WAIT_S)
    assert loop.account(number) is None
    loop.crm_transaction(("UPDATE crm.customers SET email = %s, version = version + 1 WHERE customer_number = %s",
                          ("fixed@refused.test", number)))
    account = eventually(f"the ERP account of {number}", lambda: loop.account(number), tmp_path, timeout=WAIT_S)
    assert account[2] == "fixed@refused.test"
    creates = [c for c in loop.commands_for(number) if c[1] == "create"]
    assert len(creates) == 2, creates
    letters = [json.loads(json.dumps(v, default=str)) for _, k, v in loop.dlq.seen if k == number]
    assert len(letters) == 1, [v["reason"] for v in letters]  # the refused create only: no update went out for it


def test_delete_then_create_again_reactivates_the_account(loop: Loop, tmp_path: Any) -> None:
    number = loop.number()
    insert = ("INSERT INTO crm.customers (customer_number, name) VALUES (%s, %s)", (number, "Phoenix"))
    loop.crm_transaction(insert)
    eventually(f"{number} linked in the CRM", lambda: loop.db.crm(
        "SELECT erp_account_id FROM crm.customers WHERE customer_number = %s", number), tmp_path, timeout=WAIT_S)
    loop.crm_transaction(("DELETE FROM crm.customers WHERE customer_number = %s", (number,)))
    eventually(f"{number}'s account deactivated", lambda: (loop.account(number) or (0, 0, 0, 1))[3] == 0 or None,
               tmp_path, timeout=WAIT_S)
    loop.crm_transaction(insert)
    eventually(f"{number}'s account active again", lambda: (loop.account(number) or (0, 0, 0, 0))[3] == 1 or None,
               tmp_path, timeout=WAIT_S)
    eventually(f"{number} linked again in the CRM", lambda: loop.db.crm(
        "SELECT erp_account_id FROM crm.customers WHERE customer_number = %s", number), tmp_path, timeout=WAIT_S)


def test_a_primary_key_change_creates_the_new_number_and_links_its_own_account(loop: Loop, tmp_path: Any) -> None:
    old, new = loop.number(), loop.number()
    loop.crm_transaction(("INSERT INTO crm.customers (customer_number, name) VALUES (%s, %s)", (old, "Moved")))
    linked = "SELECT erp_account_id FROM crm.customers WHERE customer_number = %s"
    first = eventually(f"{old} linked in the CRM", lambda: loop.db.crm(linked, old), tmp_path, timeout=WAIT_S)
    loop.crm_transaction((
        "UPDATE crm.customers SET id = nextval(pg_get_serial_sequence('crm.customers', 'id')), customer_number = %s, "
        "version = version + 1 WHERE customer_number = %s", (new, old)))
    account = eventually(f"the ERP account of {new}", lambda: loop.account(new), tmp_path, timeout=WAIT_S)
    assert account[0] != first
    eventually(f"{new} linked to its own account in the CRM", lambda: loop.db.crm(linked, new) == account[0] or None,
               tmp_path, timeout=WAIT_S)
    eventually(f"{old}'s account deactivated", lambda: (loop.account(old) or (0, 0, 0, 1))[3] == 0 or None,
               tmp_path, timeout=WAIT_S)
    assert [(p, o) for p, o, _ in loop.commands_for(new) if p == "Account"] == [("Account", "create")]
