"""The shared command helper: idempotency keys from the causing change, encoded Command records."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import pytest
from customer_events import Cdc, crm_customer_row, erp_account_row
from support.systems import reference_with, system

from reference.topics import COMMANDS_ERP, CRM_CUSTOMERS, ERP_ACCOUNTS
from streams.codecs import ChangeEvent, decode
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import SchemaMismatch
from streams.flows.commands import Cause, Command, NotWritable, emit_command, encode_command, idempotency_key
from streams.flows.engine.staging import RecordContext


def _event(record: tuple[str, bytes, bytes]) -> ChangeEvent:
    topic, key, value = record
    event = decode(value, key, topic=topic)
    assert isinstance(event, ChangeEvent)
    return event


def _command(cause: Cause, **overrides: object) -> Command:
    values: dict[str, object] = {
        "target": "erp", "operation": "update", "entity_type": "isthmus.canonical.Customer",
        "entity_key": "C-800001", "payload_type": "isthmus.canonical.Account",
        "payload": {"account_code": "AC-800001", "name": "Acme"}, "cause": cause, "changed_fields": ("name",)}
    values.update(overrides)
    return Command(**values)  # type: ignore[arg-type]


def test_cause_of_a_postgresql_change_names_its_lsn_table_and_key() -> None:
    cdc = Cdc()
    event = _event(cdc.record(CRM_CUSTOMERS, "c", before=None, after=crm_customer_row("C-800001", 81, name="A")))
    cause = Cause.of(event, "crm")
    assert cause.event_id == f"crm:lsn={cdc.lsn}:customers:id=81"
    assert cause.transaction_id == f"{cdc.tx}:{cdc.lsn}" and cause.commit_time == cdc.now


def test_a_cause_is_built_as_its_init_builds_it_from_either_database() -> None:
    cdc = Cdc()
    row = erp_account_row(5, crm_customer_number="C-800001", name="A")
    created = cdc.record(CRM_CUSTOMERS, "c", before=None, after=crm_customer_row("C-800001", 81, name="A"))
    updated = cdc.record(ERP_ACCOUNTS, "u", before=row, after={**row, "name": "B"})
    for name, record in (("crm", created), ("erp", updated)):
        event = _event(record)
        cause = Cause.of(event, name)
        names = [f.name for f in dataclasses.fields(Cause)]
        assert list(vars(cause)) == names, "every field set, in order, and no other"
        assert cause == Cause(**{n: getattr(cause, n) for n in names}) and repr(cause).startswith("Cause(system=")
        assert cause.commit_time is event.source.commit_time == cdc.now, "the source's commit time, computed once"
        assert "commit_time" not in {f.name for f in dataclasses.fields(type(event.source))}
        with pytest.raises(dataclasses.FrozenInstanceError):
            cause.table = "other"  # type: ignore[misc]


def test_two_changes_of_one_row_in_one_mariadb_transaction_have_different_causes() -> None:
    cdc = Cdc()
    row = erp_account_row(5, crm_customer_number="C-800001", name="A")
    first = _event(cdc.record(ERP_ACCOUNTS, "u", before=row, after={**row, "name": "B"}))
    assert first.source.pos is not None
    second = dataclasses.replace(first, source=dataclasses.replace(first.source, pos=first.source.pos + 200))
    assert first.source.gtid == second.source.gtid
    assert Cause.of(first, "erp").event_id != Cause.of(second, "erp").event_id
    assert Cause.of(first, "erp").event_id.startswith("erp:binlog.000001:")


def test_keys_are_deterministic_and_differ_by_target_kind_entity_and_cause() -> None:
    cdc = Cdc()
    cause = Cause.of(_event(cdc.record(CRM_CUSTOMERS, "u", before=crm_customer_row("C-800001", 81, name="A"),
                                       after=crm_customer_row("C-800001", 81, name="B"))), "crm")
    base = _command(cause)
    assert base.idempotency_key == _command(cause).idempotency_key
    assert base.command_id == _command(cause).command_id
    later = Cause.of(_event(cdc.record(CRM_CUSTOMERS, "u", before=crm_customer_row("C-800001", 81, name="B"),
                                       after=crm_customer_row("C-800001", 81, name="C"))), "crm")
    variants = [_command(later), _command(cause, operation="deactivate"), _command(cause, entity_key="C-800002"),
                _command(cause, target="crm"), _command(cause, part="lines")]
    keys = {base.idempotency_key, *(c.idempotency_key for c in variants)}
    assert len(keys) == 6
    assert base.idempotency_key.startswith("erp.Account.update.") and len(base.idempotency_key) < 100
    assert idempotency_key(target="erp", kind="Account.update", entity_key="C-800001",
                           cause_id=cause.event_id) == base.idempotency_key


def test_command_record_encodes_with_payload_json_and_source_position() -> None:
    cdc = Cdc()
    cause = Cause.of(_event(cdc.record(CRM_CUSTOMERS, "c", before=None,
                                       after=crm_customer_row("C-800001", 81, name="A"))), "crm")
    command = _command(cause, payload={"account_code": "AC-800001", "credit_limit": Decimal("12.50"),
                                       "updated_at": dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)})
    store = SchemaStore.from_directory()
    record = store.decode(encode_command(store, command, systems=reference_with())).value
    assert record["idempotency_key"] == command.idempotency_key and record["target"] == "erp"
    assert json.loads(record["payload"]) == {"account_code": "AC-800001", "credit_limit": "12.50",
                                             "updated_at": "2026-03-10T06:00:00+00:00"}
    assert record["source"]["lsn"] == cdc.lsn and record["source"]["table"] == "customers"
    assert record["causation"]["event_id"] == cause.event_id and command.topic == COMMANDS_ERP


def test_short_type_names_and_unknown_targets_are_refused() -> None:
    cause = Cause(system="crm", connector="crm", database="crm", table="customers", row_key="id=1",
                  commit_time=dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    with pytest.raises(ValueError, match="full canonical name"):
        _command(cause, payload_type="Account")
    with pytest.raises(ValueError, match="'WMS!' is not a system name"):
        _command(cause, target="WMS!")
    with pytest.raises(NotWritable, match="'wms', which is not declared"):  # any name; refused where emitted
        encode_command(SchemaStore.from_directory(), _command(cause, target="wms"), systems=reference_with())


def test_a_command_for_a_system_that_takes_none_is_refused_and_not_emitted() -> None:
    cdc = Cdc()
    cause = Cause.of(_event(cdc.record(CRM_CUSTOMERS, "c", before=None,
                                       after=crm_customer_row("C-800001", 81, name="A"))), "crm")
    systems = reference_with(system("shop"), system("billing", writable=True))
    store = SchemaStore.from_directory()
    ctx = RecordContext(memory={})
    for target, why in (("shop", r"'shop', which is read-only \(systems/shop.yaml"),
                        ("ledger", "'ledger', which is not declared")):
        with pytest.raises(NotWritable, match=why + r".*only billing, crm, erp take commands"):
            emit_command(ctx, store, _command(cause, target=target), systems=systems)
    assert ctx.emitted == []
    emit_command(ctx, store, _command(cause, target="crm"), systems=systems)
    assert [e.topic for e in ctx.emitted] == ["isthmus.commands.crm"]


def test_a_payload_that_does_not_fit_its_payload_schema_is_refused_and_not_emitted() -> None:
    """Every flow emits its commands through ``emit_command`` (orders, stock) or ``encode_command`` (entities): a
    payload whose JSON text would carry what its record's schema cannot hold (``Account.credit_limit`` is a
    ``decimal(14,2)``) is refused there, naming the command, the field, the value and the schema's file."""
    cdc = Cdc()
    cause = Cause.of(_event(cdc.record(CRM_CUSTOMERS, "c", before=None,
                                       after=crm_customer_row("C-800001", 81, name="A"))), "crm")
    store = SchemaStore.from_directory()
    ctx = RecordContext(memory={})
    for payload, says in (({"credit_limit": Decimal("1234567890123.00")}, "field credit_limit = 1234567890123.00: "
                           "1234567890123.00 has 15 digits (13 before the point, 2 after)"),
                          ({"credit_limit": Decimal("12.505")}, "has 3 decimals"),
                          ({"name": None}, "field name = None: null, and the field is not nullable")):
        with pytest.raises(SchemaMismatch) as raised:
            emit_command(ctx, store, _command(cause, payload={"account_code": "AC-800001", **payload}),
                         systems=reference_with())
        message = str(raised.value)
        assert message.startswith("the payload of the erp Account.update command for entity C-800001 does not fit "
                                  "isthmus.canonical.Account") and says in message
        assert "schemas/account.avsc" in message
    assert ctx.emitted == []
