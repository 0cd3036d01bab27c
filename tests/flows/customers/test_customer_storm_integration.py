"""The whole loop on the real stack: the customer flow, a CRM and an ERP sink writing through the reference
APIs, and the connectors bringing every write back. An edit storm on both sides reaches a fixed point: every
command answered, every echo processed, no further command, and both systems agree."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from customer_stack import Databases, Mine, only, reader, sinks
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient
from support.flows import RunningFlow
from support.systems import reference_systems
from support.waiting import eventually

from reference.topics import CANONICAL_CUSTOMERS, CRM_CUSTOMERS, ERP_ACCOUNTS
from streams.codecs import ChangeEvent, decode
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.flows.topics import AUDIT_CONFLICTS
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.mapping import load_mappings
from streams.stack.running import RunningStack

CUSTOMERS = 3
EDITS = 40
ROUNDS_S = 240.0


def _row_version(data: bytes) -> Mapping[str, Any]:
    """A change record as (number, version): which of this test's rows, at which version."""
    event = decode(data)
    if not isinstance(event, ChangeEvent) or event.row is None:
        return {}
    row = event.row
    return {"number": row.get("customer_number") or row.get("crm_customer_number"), "version": row.get("version"),
            "deleted": event.after is None}


class Loop:
    """Readers of everything the loop produces, and the fixed-point check."""

    def __init__(self, bootstrap: str, schemas: SchemaStore, topics: Mapping[str, Mapping[str, str]],
                 group: str, db: Databases) -> None:
        def canonical(data: bytes) -> Mapping[str, Any]:
            return schemas.decode(data).value

        self.commands = reader(bootstrap, [t["ISTHMUS_SINK_COMMAND_TOPIC"] for t in topics.values()], canonical)
        self.answers = reader(bootstrap, [t["ISTHMUS_SINK_RESULTS_TOPIC"] for t in topics.values()], canonical)
        self.dlq = reader(bootstrap, sorted({t["ISTHMUS_SINK_DLQ_TOPIC"] for t in topics.values()}), canonical)
        self.cdc = reader(bootstrap, [CRM_CUSTOMERS, ERP_ACCOUNTS], _row_version)
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.group = group
        self.db = db

    def close(self) -> None:
        for read in (self.commands, self.answers, self.dlq, self.cdc):
            read.close()
        self.admin.close()

    def versions(self) -> dict[tuple[str, str], int]:
        numbers = sorted(self.db.mine.numbers)
        crm = self.db.crm_rows("SELECT customer_number, version FROM crm.customers WHERE customer_number = ANY(%s)",
                               numbers)
        marks = ", ".join(["%s"] * len(numbers))
        erp = self.db.erp_rows(f"SELECT crm_customer_number, version FROM accounts WHERE crm_customer_number IN "
                               f"({marks})", *numbers)
        return {**{(CRM_CUSTOMERS, n): v for n, v in crm}, **{(ERP_ACCOUNTS, n): v for n, v in erp}}

    def drained(self) -> bool:
        """One look: every command answered, every row's latest version captured and processed by the flow."""
        versions = self.versions()
        for read in (self.cdc, self.commands, self.answers, self.dlq):
            read.poll()
        letters = [v for _, _, v in self.dlq.seen]
        assert not letters, f"the sinks dead-lettered commands: {[v['reason'] for v in letters]}"
        latest: dict[tuple[str, str], tuple[int, TopicPartition, int]] = {}
        for (topic, _, row), record in zip(self.cdc.seen, self.cdc.records, strict=True):
            if row.get("number") in self.db.mine.numbers and not row["deleted"]:
                latest[(topic, row["number"])] = (row["version"], TopicPartition(topic, record.partition),
                                                     record.offset)
        if any(latest.get(k, (None,))[0] != v for k, v in versions.items()):
            return False
        committed = self.admin.list_group_offsets({self.group: None}).get(self.group, {})
        if any(committed.get(tp) is None or committed[tp].offset <= offset for _, tp, offset in latest.values()):
            return False
        self.commands.poll()
        self.answers.poll()
        sent = {v["command_id"] for _, _, v in self.commands.seen}
        return sent <= {v["command_id"] for _, _, v in self.answers.seen}

    def fixed_point(self) -> int:
        """Wait until the loop is drained twice in a row with no command in between; the command count."""
        def twice() -> tuple[int] | None:  # a tuple: a count of 0 commands is a finding too
            if not self.drained():
                return None
            count = len(self.commands.seen)
            return (count,) if self.drained() and len(self.commands.seen) == count else None

        (count,) = eventually(f"a fixed point within {ROUNDS_S:.0f} s", twice, timeout=ROUNDS_S, every=0,
                              context=lambda: f"{len(self.commands.seen)} commands so far")
        return count


def test_edit_storm_on_both_sides_reaches_a_fixed_point(stack: RunningStack) -> None:
    bootstrap = stack.settings.bootstrap_servers
    schemas = SchemaStore.from_directory()
    run = uuid.uuid4().hex[:8]
    topics = {system: {"ISTHMUS_SINK_COMMAND_TOPIC": f"it-{run}.commands.{system}",
                       "ISTHMUS_SINK_RESULTS_TOPIC": f"it-{run}.results.{system}",
                       "ISTHMUS_SINK_DLQ_TOPIC": f"it-{run}.dlq"} for system in ("crm", "erp")}
    asyncio.run(ensure_topics(bootstrap, [
        *(TopicSpec(name=t[k], partitions=3) for t in topics.values()
          for k in ("ISTHMUS_SINK_COMMAND_TOPIC", "ISTHMUS_SINK_RESULTS_TOPIC")),
        TopicSpec(name=f"it-{run}.dlq", partitions=1),
        TopicSpec(name=CANONICAL_CUSTOMERS, partitions=1, config=(("cleanup.policy", "compact"),)),
        TopicSpec(name=AUDIT_CONFLICTS, partitions=1)]))
    flow = CustomerFlow(mappings=load_mappings(schemas=schemas.schemas), schemas=schemas,
                        systems=reference_systems(stack.settings.erp_time_zone),
                        command_topics={s: t["ISTHMUS_SINK_COMMAND_TOPIC"] for s, t in topics.items()})
    mine = Mine()
    db = Databases(stack=stack, mine=mine)
    spec = only(flow.spec(), mine, f"isthmus-customers-storm-{run}")
    loop = Loop(bootstrap, schemas, topics, spec.name, db)
    chance = random.Random(run)
    numbers = [f"C-8{chance.randrange(10**8, 10**9)}" for _ in range(CUSTOMERS)]
    try:
        with RunningFlow(spec, bootstrap, schemas, start="beginning"), sinks(topics, run, schemas):
            for number in numbers:
                db.crm_customer(number, f"Storm {number}", email=f"{number.lower()}@storm.example")
            created = loop.fixed_point()
            accounts = {n: v for n, v in db.erp_rows(
                "SELECT crm_customer_number, account_id FROM accounts WHERE crm_customer_number IN (%s, %s, %s)",
                *numbers)}
            assert sorted(accounts) == sorted(numbers)
            linked = db.crm_rows("SELECT customer_number, erp_account_id FROM crm.customers "
                                 "WHERE customer_number = ANY(%s)", numbers)
            # per customer at least the Account create and the CRM update carrying its link and the ERP defaults
            assert dict(linked) == accounts and created >= 2 * CUSTOMERS

            for _ in range(EDITS):
                number = chance.choice(numbers)
                if chance.random() < 0.5:
                    column, value = chance.choice([
                        ("name", f"CRM name {chance.randint(1, 9)}"), ("email", f"c{chance.randint(1, 9)}@x.cn"),
                        ("phone", f"+86 21 {chance.randint(1000, 9999)}"),
                        ("credit_limit", Decimal(chance.randint(1, 9) * 100)), ("payment_terms", "COD")])
                    db.crm(f"UPDATE crm.customers SET {column} = %s, version = version + 1, updated_at = now() "
                           "WHERE customer_number = %s", value, number)
                else:
                    column, value = chance.choice([
                        ("credit_limit", Decimal(chance.randint(1, 9) * 1000)),
                        ("payment_terms", f"NET{chance.choice([15, 30, 60])}"), ("blocked", chance.randint(0, 1)),
                        ("name", f"ERP name {chance.randint(1, 9)}"), ("email", f"e{chance.randint(1, 9)}@x.cn"),
                        ("phone", f"+86 10 {chance.randint(1000, 9999)}")])
                    db.erp(f"UPDATE accounts SET {column} = %s, version = version + 1 WHERE crm_customer_number = %s",
                           value, number)
            total = loop.fixed_point()
    finally:
        loop.close()

    assert total > created
    crm = {r[0]: r[1:] for r in db.crm_rows(
        "SELECT customer_number, name, email, phone, credit_limit, payment_terms, blocked, erp_account_id "
        "FROM crm.customers WHERE customer_number = ANY(%s)", numbers)}
    erp = {r[0]: r[1:] for r in db.erp_rows(
        "SELECT crm_customer_number, name, email, phone, credit_limit, payment_terms, blocked, account_id "
        "FROM accounts WHERE crm_customer_number IN (%s, %s, %s)", *numbers)}
    for number in numbers:
        crm_row, erp_row = crm[number], erp[number]
        assert crm_row[:3] == erp_row[:3], f"{number}: the CRM owns name, email and phone: {crm_row} {erp_row}"
        assert (crm_row[3], crm_row[4], bool(crm_row[5]), crm_row[6]) == (
            erp_row[3], erp_row[4], bool(erp_row[5]), erp_row[6]), f"{number}: the ERP owns credit, terms, blocked"
    commands = [json.loads(v["payload"]) | {"_op": v["operation"]} for _, k, v in loop.commands.seen]
    assert not [c for c in commands if c["_op"] == "create" and c.get("crm_customer_number") not in numbers]
