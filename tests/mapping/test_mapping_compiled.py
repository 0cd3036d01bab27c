"""Mappings compiled once at load (issue 17): the plan is made by the loader and reused for every record, and a
refused value is still reported with the mapping file, the line and the field."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from streams.codecs import ChangeEvent, Op
from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import (
    Context,
    Engine,
    MappingError,
    MappingValueError,
    RecordMapping,
    load_mapping,
    map_change,
    project,
)
from streams.mapping import compiled as compiled_module
from streams.mapping.compiled import coercer, plan_of

Event = Callable[[str], ChangeEvent]
NO_HINT = "null for a field that is not nullable"


@dataclasses.dataclass(frozen=True)
class Refused:
    """The coercer refuses the value with a message matching ``pattern`` (after ``<where>: ``)."""

    pattern: str


def _line_of(mapping: RecordMapping, text: str) -> int:
    """The 1-based line of ``mapping``'s file that holds ``text`` (there must be exactly one)."""
    found = [n for n, line in enumerate(mapping.path.read_text(encoding="utf-8").splitlines(), 1) if text in line]
    assert len(found) == 1, found
    return found[0]


def test_the_loader_compiles_and_every_record_reuses_the_plan(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer, account = mappings["customer"], mappings["account"]
    plan = customer.plans[id(schemas.named)]
    assert plan.named is schemas.named and plan_of(customer, schemas.named) is plan
    assert Engine(customer, schemas.named).plan is plan

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("compiled again while mapping a record")

    for name in ("compile_mapping", "compile_source", "compile_binding", "coercer"):
        monkeypatch.setattr(compiled_module, name, refused)
    for fixture, system in (("crm_customers_u_1", "crm"), ("erp_accounts_u_1", "erp"), ("crm_customers_d_1", "crm"),
                            ("crm_addresses_c_1", "crm")):
        (change,) = map_change(customer, captured(fixture), system, context, schemas.named)
        assert change.key == "C-990001"
    record = {"customer_number": "C-000123", "erp_account_id": None, "name": "Zhang", "email": None, "phone": None,
              "billing_address": None, "credit_limit": Decimal("10.00"), "payment_terms": "NET30", "blocked": False,
              "active": True, "updated_at": None}
    assert project(account, record, context, schemas.named)["account_code"] == "AC-000123"


def test_other_named_types_get_their_own_plan_kept_beside_the_first(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    payment = dataclasses.replace(mappings["payment"])  # a copy: its plans start empty
    assert payment.plans == {}
    other = dict(schemas.named)
    first, second = plan_of(payment, schemas.named), plan_of(payment, other)
    assert first is not second and second.named is other
    assert plan_of(payment, schemas.named) is first and plan_of(payment, other) is second
    (change,) = map_change(payment, captured("erp_payments_c_1"), "erp", context, other)
    assert change.values["paid_at"] == dt.datetime(2024, 3, 12, 8, 45, 30, 250000, tzinfo=dt.UTC)


def test_a_refused_value_names_the_file_the_line_and_the_field(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    customer = mappings["customer"]
    account = captured("erp_accounts_u_1")
    assert account.after is not None
    nested = dataclasses.replace(account, after={**account.after, "billing_line1": 5})
    line = _line_of(customer, "line1: billing_line1")
    with pytest.raises(MappingValueError, match=rf"^customer\.yaml:{line} line1: expected text, got 5$"):
        map_change(customer, nested, "erp", context, schemas.named)
    stepped = dataclasses.replace(account, after={**account.after, "blocked": 7})
    line = _line_of(customer, "blocked: {from: blocked, transform: [bool]}")
    with pytest.raises(MappingValueError,
                       match=rf"^customer\.yaml:{line} blocked: bool expects 0, 1, true or false, got 7$"):
        map_change(customer, stepped, "erp", context, schemas.named)
    unnamed = dataclasses.replace(account, after={**account.after, "crm_customer_number": ""})
    # "" is text: no error (the account's old customer number is ended: its key changed)
    ended, change = map_change(customer, unnamed, "erp", context, schemas.named)
    assert change.key == "" and ended.deleted and ended.key == account.before["crm_customer_number"]


def test_a_null_is_refused_with_the_fix_and_values_leave_in_their_avro_form(
    load: Callable[..., RecordMapping], schemas: SchemaSet
) -> None:
    mapping = load("""
        target: isthmus.canonical.Payment
        key: payment_id
        owner: erp
        policy: owner_wins
        sources:
          erp_payments:
            system: erp
            table: payments
            fields:
              payment_id: payment_id
              invoice_id: invoice_id
              erp_account_id: account_id
              amount: amount
              paid_at: {from: paid_at, transform: [local_to_utc]}
        """)
    engine, source = Engine(mapping, schemas.named), mapping.sources[0]
    context = Context(time_zones={"erp": "UTC"})
    row = {"payment_id": 1, "invoice_id": None, "account_id": 3, "amount": Decimal("1.5"),
           "paid_at": dt.datetime(2024, 7, 1, 12, 0)}
    line = _line_of(mapping, "invoice_id: invoice_id")
    expected = rf"^{mapping.path.name}:{line} invoice_id: {NO_HINT}; add a `default:`"
    with pytest.raises(MappingValueError, match=expected):
        engine.map_row(source, row, context)
    mapped = engine.map_row(source, {**row, "invoice_id": 2}, context)
    assert mapped["amount"] == Decimal("1.50") and mapped["amount"].as_tuple().exponent == -2
    assert mapped["paid_at"] == dt.datetime(2024, 7, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("avro_type", "value", "expected"), [
    (["null", "string"], None, None),
    (["null", "string"], "a", "a"),
    (["null", "string"], 5, Refused("expected text, got 5")),
    (["string"], None, Refused(f"{NO_HINT}$")),
    ("string", None, Refused(f"{NO_HINT}; add a `default:` transform")),
    (["null", "string", "long"], 5, 5),
    (["string", "long"], None, Refused(f"{NO_HINT}$")),
    ("boolean", 1, True),
    ("boolean", 2, Refused("expected true or false, got 2")),
    ("long", Decimal("4"), 4),
    ("long", Decimal("4.5"), Refused("expected a whole number")),
    ("long", True, Refused("expected a whole number, got True")),
    ("double", 1.5, 1.5),
    ("double", None, Refused(f"{NO_HINT}; add")),
    ({"type": "bytes", "logicalType": "decimal", "scale": 2}, 3, Decimal("3.00")),
    ({"type": "bytes", "logicalType": "decimal", "scale": 2}, Decimal("0.125"), Refused("more than 2 decimals")),
    ({"type": "bytes", "logicalType": "decimal", "scale": 2}, 1.5, Refused("expected an exact number, got 1.5")),
    ({"type": "long", "logicalType": "timestamp-micros"}, dt.datetime(2024, 1, 1), Refused("needs `local_to_utc`")),
    ({"type": "long", "logicalType": "timestamp-micros"},
     dt.datetime(2024, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8))), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
    # a wall-clock time (a DATETIME column, `utc_to_local`) fills a local-timestamp field as it is: a trial's
    # payload field dead-lettered every change ("expected a whole number, got datetime.datetime(2026, 9, 1, 2, 2)")
    ({"type": "long", "logicalType": "local-timestamp-micros"}, dt.datetime(2026, 9, 1, 2, 2),
     dt.datetime(2026, 9, 1, 2, 2)),
    (["null", {"type": "long", "logicalType": "local-timestamp-millis"}], dt.datetime(2026, 10, 25, 2, 30),
     dt.datetime(2026, 10, 25, 2, 30)),
    ({"type": "long", "logicalType": "local-timestamp-micros"}, "2026-09-01T02:02:00.5",
     dt.datetime(2026, 9, 1, 2, 2, 0, 500000)),
    ({"type": "long", "logicalType": "local-timestamp-micros"}, dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
     Refused("expected a zone-less local time, .* which has an offset; `utc_to_local` gives")),
    ({"type": "long", "logicalType": "local-timestamp-micros"}, "2026-09-01T02:02:00+02:00",
     Refused("'2026-09-01T02:02:00\\+02:00', which has an offset")),
    ({"type": "long", "logicalType": "local-timestamp-micros"}, "Montag", Refused("not an ISO 8601 local time")),
    ({"type": "long", "logicalType": "local-timestamp-micros"}, 1788228120000000,
     Refused("expected a zone-less local time, got 1788228120000000")),
    ({"type": "int", "logicalType": "date"}, dt.datetime(2024, 1, 1), Refused("expected a date")),
    ({"type": "int", "logicalType": "date"}, dt.date(2024, 1, 1), dt.date(2024, 1, 1)),
    ({"type": "long", "logicalType": "time-micros"}, dt.time(9, 30, 0, 5), dt.time(9, 30, 0, 5)),
    ({"type": "int", "logicalType": "time-millis"}, dt.time(23, 59), dt.time(23, 59)),
    ({"type": "long", "logicalType": "time-micros"}, 34200000000, Refused("expected a time of day")),
    ("test.Kind", "b", "b"),
    ("test.Kind", "c", Refused("'c' is not one of a, b; map it with a value map")),
    ("test.Kind", ["a"], Refused(r"\['a'\] is not one of a, b")),
    (["null", "test.Kind"], None, None),
    ("test.Kind", None, Refused(f"{NO_HINT}; add")),
    ({"type": "record", "name": "R", "fields": []}, {"x": 1}, {"x": 1}),
    ({"type": ["null", "string"]}, None, Refused(f"{NO_HINT}; add")),
])
def test_each_coercer_decides_once_what_a_value_becomes(avro_type: Any, value: Any, expected: Any) -> None:
    named = {"test.Kind": {"type": "enum", "name": "Kind", "namespace": "test", "symbols": ["a", "b"]}}
    coerce = coercer(avro_type, named, "f.yaml:3 field")
    if isinstance(expected, Refused):
        with pytest.raises(MappingValueError, match=rf"^f\.yaml:3 field: .*{expected.pattern}"):
            coerce(value)
    else:
        assert coerce(value) == expected and type(coerce(value)) is type(expected)


def test_a_source_made_by_a_caller_is_compiled_for_the_call(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    payment = mappings["payment"]
    event = captured("erp_payments_c_1")
    assert event.after is not None
    source = payment.sources[0]
    narrowed = dataclasses.replace(source, bindings={k: source.bindings[k] for k in ("payment_id", "amount")})
    values = Engine(payment, schemas.named).map_row(narrowed, event.after, context)
    assert set(values) == {"payment_id", "amount"}
    assert id(narrowed) not in payment.plans[id(schemas.named)].sources  # nothing kept for it


def test_a_delete_through_a_source_without_the_key_says_so(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    payment = mappings["payment"]
    source = payment.sources[0]
    keyless = dataclasses.replace(source, bindings={k: b for k, b in source.bindings.items() if k != "payment_id"})
    odd = dataclasses.replace(payment, sources=(keyless,))
    created = captured("erp_payments_c_1")
    (change,) = map_change(odd, created, "erp", context, schemas.named)  # a create maps what the source binds
    assert "payment_id" not in change.values
    with pytest.raises(MappingError, match="erp_payments does not bind the key payment_id"):
        map_change(odd, captured("erp_payments_d_1"), "erp", context, schemas.named)


def test_a_context_reads_each_system_through_one_context(context: Context) -> None:
    crm = context.reading("crm")
    assert crm.system == "crm" and crm.lookup is context.lookup and crm.time_zones == context.time_zones
    assert context.reading("crm") is crm and context.reading("erp") is not crm
    assert crm.reading("crm") is crm and crm.reading(None) == context
    other = dataclasses.replace(context, lookup=None)
    assert other.reading("crm").lookup is None


def test_truncates_still_map_to_nothing(
    mappings: dict[str, RecordMapping], captured: Event, context: Context, schemas: SchemaSet
) -> None:
    truncated = dataclasses.replace(captured("erp_payments_c_1"), op=Op.TRUNCATE)
    assert map_change(mappings["payment"], truncated, "erp", context, schemas.named) == ()


def test_load_mapping_leaves_a_plan_for_the_schemas_it_was_given(
    write_mapping: Callable[[str], Any], schemas: SchemaSet
) -> None:
    path = write_mapping("""
        target: isthmus.canonical.Payment
        key: payment_id
        owner: erp
        policy: owner_wins
        sources:
          erp_payments:
            system: erp
            table: payments
            fields: {payment_id: payment_id, invoice_id: invoice_id, erp_account_id: account_id, amount: amount,
                     paid_at: {from: paid_at, transform: [local_to_utc]}}
        """)
    mapping = load_mapping(path, schemas=schemas)
    assert list(mapping.plans) == [id(schemas.named)]
    plan = mapping.plans[id(schemas.named)]
    assert plan.sources_for("erp", "payments")[0].source is mapping.sources[0]
    assert plan.sources_for("crm", "payments") == ()
