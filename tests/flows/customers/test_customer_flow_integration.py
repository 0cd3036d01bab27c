"""The customer flow on the real engine, fed by the real connectors: a database change in either system
becomes the command it should produce, read with read_committed from the command topics."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from customer_events import Cdc, erp_account_row
from customer_stack import Databases, Keyed, Mine, only, reader
from kafka import KafkaProducer
from support.flows import RunningFlow
from support.systems import reference_systems
from support.topics import TopicReader

from reference.topics import CANONICAL_CUSTOMERS, COMMANDS_CRM, COMMANDS_ERP, ERP_ACCOUNTS
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import STAGE, CustomerFlow
from streams.flows.topics import AUDIT_CONFLICTS, DLQ_TOPIC
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.mapping import load_mappings
from streams.stack.running import RunningStack

Seen = list[tuple[str, str, Mapping[str, Any]]]


def _number() -> str:
    return f"C-9{random.SystemRandom().randrange(10**8, 10**9)}"


@dataclass
class Live:
    """The running flow and readers of its outputs, for one test."""

    stack: RunningStack
    mine: Mine
    commands: TopicReader[Keyed]
    audit: TopicReader[Keyed]
    canonical: TopicReader[Keyed]

    def customer_number(self) -> str:
        number = _number()
        self.mine.numbers.add(number)
        return number

    @property
    def db(self) -> Databases:
        return Databases(stack=self.stack, mine=self.mine)

    def crm(self, sql: str, *params: Any) -> Any:
        return self.db.crm(sql, *params)

    def erp(self, sql: str, *params: Any) -> Any:
        return self.db.erp(sql, *params)

    def crm_customer(self, number: str, name: str, *, email: str | None = None) -> int:
        return self.db.crm_customer(number, name, email=email)

    def commands_for(self, number: str, route: tuple[str, str], count: int = 1) -> list[Mapping[str, Any]]:
        def matching(seen: Seen) -> list[Mapping[str, Any]]:
            return [v for _, k, v in seen if k == number
                    and (v["payload_type"].rpartition(".")[2], v["operation"]) == route]

        self.commands.until(f"{count} x {route} for {number}", lambda seen: len(matching(seen)) >= count)
        return matching(self.commands.seen)


def _payload(command: Mapping[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(command["payload"])
    return payload


@pytest.fixture
def live(stack: RunningStack) -> Iterator[Live]:
    bootstrap = stack.settings.bootstrap_servers
    schemas = SchemaStore.from_directory()
    asyncio.run(ensure_topics(bootstrap, [
        TopicSpec(name=CANONICAL_CUSTOMERS, partitions=1, config=(("cleanup.policy", "compact"),)),
        TopicSpec(name=AUDIT_CONFLICTS, partitions=1), TopicSpec(name=COMMANDS_CRM, partitions=3),
        TopicSpec(name=COMMANDS_ERP, partitions=3)]))
    flow = CustomerFlow(mappings=load_mappings(schemas=schemas.schemas), schemas=schemas,
                        systems=reference_systems(stack.settings.erp_time_zone))
    mine = Mine()
    spec = only(flow.spec(), mine, f"isthmus-customers-it-{uuid.uuid4().hex[:8]}")

    def value(data: bytes) -> Mapping[str, Any]:
        return schemas.decode(data).value

    live = Live(stack=stack, mine=mine, commands=reader(bootstrap, [COMMANDS_ERP, COMMANDS_CRM], value),
                audit=reader(bootstrap, [AUDIT_CONFLICTS], value),
                canonical=reader(bootstrap, [CANONICAL_CUSTOMERS], value))
    try:
        with RunningFlow(spec, bootstrap, schemas, start="beginning"):
            yield live
    finally:
        for read in (live.commands, live.audit, live.canonical):
            read.close()


def test_crm_customer_create_edit_and_delete_become_erp_account_commands(live: Live) -> None:
    number = live.customer_number()
    live.crm_customer(number, "Integration Trading", email="it@example.cn")
    (create,) = live.commands_for(number, ("Account", "create"))
    payload = _payload(create)
    assert create["target"] == "erp" and create["entity_key"] == number
    assert payload["account_code"] == "AC-" + number[2:] and payload["crm_customer_number"] == number
    assert payload["name"] == "Integration Trading" and payload["email"] == "it@example.cn"
    assert create["source"]["table"] == "customers" and create["source"]["lsn"] is not None

    live.crm("UPDATE crm.customers SET name = %s, version = version + 1 WHERE customer_number = %s",
             "Integration Trading Ltd", number)
    (update,) = live.commands_for(number, ("Account", "update"))
    assert list(update["changed_fields"]) == ["name"] and _payload(update)["name"] == "Integration Trading Ltd"

    live.crm("DELETE FROM crm.customers WHERE customer_number = %s", number)
    (deactivate,) = live.commands_for(number, ("Account", "deactivate"))
    assert list(deactivate["changed_fields"]) == ["active"] and _payload(deactivate)["crm_customer_number"] == number
    creates = [v for _, k, v in live.commands.seen if k == number and v["operation"] == "create"]
    assert len(creates) == 1


def test_erp_account_links_the_crm_customer_and_erp_edits_reach_the_crm(live: Live) -> None:
    number = live.customer_number()
    account_id = live.erp("INSERT INTO accounts (account_code, name, crm_customer_number, credit_limit, "
                          "payment_terms) VALUES (%s, %s, %s, %s, %s)",
                          "AC-" + number[2:], "ERP Side Name", number, Decimal("500.00"), "NET45")
    live.canonical.until(f"{number} published with its ERP account",
                            lambda seen: any(k == number and v["erp_account_id"] == account_id for _, k, v in seen))

    live.crm_customer(number, "CRM Side Name")
    # the link goes with the ERP-owned fields, in one update (flows/customers.yaml: erp_account_id in the writes)
    (mirrored,) = live.commands_for(number, ("Customer", "update"))
    assert mirrored["target"] == "crm" and _payload(mirrored)["erp_account_id"] == account_id
    assert list(mirrored["changed_fields"]) == ["erp_account_id", "credit_limit", "payment_terms"]
    assert _payload(mirrored)["credit_limit"] == "500.00" and _payload(mirrored)["payment_terms"] == "NET45"
    (rename,) = live.commands_for(number, ("Account", "update"))
    assert list(rename["changed_fields"]) == ["name"] and _payload(rename)["name"] == "CRM Side Name"

    live.erp("UPDATE accounts SET credit_limit = %s, version = version + 1 WHERE account_id = %s",
             Decimal("750.00"), account_id)
    updates = live.commands_for(number, ("Customer", "update"), count=2)
    assert list(updates[1]["changed_fields"]) == ["credit_limit"]
    assert _payload(updates[1])["credit_limit"] == "750.00"
    assert not [v for _, k, v in live.commands.seen if k == number and v["operation"] == "create"]


def test_conflicting_edit_in_the_erp_is_written_back_and_audited(live: Live) -> None:
    number = live.customer_number()
    account_id = live.erp("INSERT INTO accounts (account_code, name, crm_customer_number) VALUES (%s, %s, %s)",
                          "AC-" + number[2:], "Owned By CRM", number)
    live.canonical.until(f"{number} published", lambda seen: any(k == number for _, k, v in seen))
    live.crm_customer(number, "Owned By CRM")
    (linked,) = live.commands_for(number, ("Customer", "update"))
    assert "erp_account_id" in linked["changed_fields"] and _payload(linked)["erp_account_id"] == account_id

    live.erp("UPDATE accounts SET name = %s, version = version + 1 WHERE account_id = %s", "Edited In ERP",
             account_id)
    (write_back,) = live.commands_for(number, ("Account", "update"))
    assert list(write_back["changed_fields"]) == ["name"] and _payload(write_back)["name"] == "Owned By CRM"
    live.audit.until(f"a conflict on {number}.name", lambda seen: any(
        k == number and v["field"] == "name" for _, k, v in seen))
    conflicts = [v for _, k, v in live.audit.seen if k == number]
    assert [c["field"] for c in conflicts] == ["name"], conflicts
    (conflict,) = conflicts
    assert conflict["winner"] == "crm" and conflict["owner"] == "crm" and conflict["policy"] == "owner_wins"
    assert conflict["values"]["erp"] == '"Edited In ERP"' and conflict["values"]["crm"] == '"Owned By CRM"'


def test_poison_event_is_dead_lettered_and_the_flow_keeps_going(stack: RunningStack) -> None:
    bootstrap = stack.settings.bootstrap_servers
    schemas = SchemaStore.from_directory()
    run = uuid.uuid4().hex[:8]
    reads = CustomerFlow(mappings=load_mappings(schemas=schemas.schemas), schemas=schemas,
                         systems=reference_systems(stack.settings.erp_time_zone)).config.reads
    tables = {f"it-{run}.{system}.{table}": (system, table) for system, table in reads}
    accounts = f"it-{run}.erp.accounts"
    asyncio.run(ensure_topics(bootstrap, [TopicSpec(name=t, partitions=1) for t in tables]
                              + [TopicSpec(name=CANONICAL_CUSTOMERS, partitions=1,
                                           config=(("cleanup.policy", "compact"),))]))
    flow = CustomerFlow(mappings=load_mappings(schemas=schemas.schemas), schemas=schemas,
                        systems=reference_systems(stack.settings.erp_time_zone), tables=tables)
    spec = dataclasses.replace(flow.spec(), name=f"isthmus-customers-poison-{run}")
    dlq = reader(bootstrap, [DLQ_TOPIC], lambda data: schemas.decode(data).value)
    canonical = reader(bootstrap, [CANONICAL_CUSTOMERS], lambda data: schemas.decode(data).value)
    number = _number()
    _, key, value = Cdc().record(ERP_ACCOUNTS, "c", before=None,
                                 after=erp_account_row(9_000_001, crm_customer_number=number, name="After Poison"))
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(accounts, key=b'{"schema":{"type":"int64"},"payload":1}', value=b"\x00not json at all")
    producer.send(accounts, key=key, value=value)
    producer.flush()
    producer.close()
    try:
        with RunningFlow(spec, bootstrap, schemas, start="beginning"):
            dlq.until("the poison record in the DLQ", lambda seen: any(
                v["topic"] == accounts for _, _, v in seen))
            (letter,) = [v for _, _, v in dlq.seen if v["topic"] == accounts]
            assert letter["stage"] == STAGE and "not a Debezium change event" in letter["reason"]
            assert letter["value"] == b"\x00not json at all" and letter["offset"] == 0
            canonical.until(f"{number} after the poison", lambda seen: any(
                k == number for _, k, _ in seen))
            (customer,) = [v for _, k, v in canonical.seen if k == number]
            assert customer["name"] == "After Poison" and customer["erp_account_id"] == 9_000_001
    finally:
        dlq.close()
        canonical.close()
