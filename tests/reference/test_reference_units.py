"""Pure parts of the reference apps, the generator and the simulator: no services."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pymysql
import pytest
from psycopg.adapt import PyFormat, Transformer
from pydantic import ValidationError

from reference.common.app import new_app
from reference.common.concurrency import Precondition, etag_value, parse_if_match
from reference.common.errors import ApiError, field_path, validation_body
from reference.common.exceptions import ConfigError, NotLoopback
from reference.common.faults import FaultPlan, FaultSwitch
from reference.common.idempotency import StoredAnswer, canonical_body, check_key, replay, request_hash
from reference.common.net import is_loopback, require_loopback_url
from reference.common.patching import changes
from reference.common.pool import ConnectionPool
from reference.common.transactions import Transactions
from reference.crm.config import CrmConfig
from reference.crm.database import PostgresDialect, schema_sql
from reference.crm.models import CustomerCreate, CustomerPatch, Product
from reference.erp import lifecycle
from reference.erp.config import ErpConfig
from reference.erp.database import SCHEMA_FILE, MariaDbDialect, statements
from reference.erp.localtime import from_local, to_local
from reference.erp.repository import code_taken
from reference.generate.data import GenerationSpec, customers, products, stock
from reference.generate.exceptions import InvalidSpec
from reference.simulate.actions import classify
from reference.simulate.exceptions import InvalidSimulation
from reference.simulate.runner import SimulationSpec

SHANGHAI = ZoneInfo("Asia/Shanghai")


# idempotency


def test_canonical_bodies_ignore_key_order_and_whitespace() -> None:
    assert canonical_body(b'{"b": 1, "a": [1, 2]}') == canonical_body(b'{"a":[1,2],\n "b":1}')
    assert canonical_body(b"") == b"" and canonical_body(b"not json") == b"not json"


def test_the_request_hash_covers_method_path_and_body() -> None:
    base = request_hash("POST", "/customers", b'{"name": "A"}')

    assert base == request_hash("post", "/customers", b'{ "name":"A" }')
    assert base != request_hash("PUT", "/customers", b'{"name": "A"}')
    assert base != request_hash("POST", "/products", b'{"name": "A"}')
    assert base != request_hash("POST", "/customers", b'{"name": "B"}')


@pytest.mark.parametrize("bad", ["", "x" * 201, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_refused_naming_the_header(bad: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_key(bad)
    assert refused.value.status == 400 and refused.value.field == "Idempotency-Key"


def test_a_stored_answer_is_replayed_only_for_the_same_request() -> None:
    stored = StoredAnswer(method="POST", path="/orders", request_hash="h1", status=201, body={"id": 1})

    assert replay(stored, method="POST", path="/orders", hashed="h1") is stored
    for method, path, hashed in (("POST", "/orders", "h2"), ("PATCH", "/orders", "h1"), ("POST", "/x", "h1")):
        with pytest.raises(ApiError) as refused:
            replay(stored, method=method, path=path, hashed=hashed)
        assert refused.value.status == 422 and refused.value.field == "Idempotency-Key"


# concurrency


def test_if_match_accepts_the_usual_forms() -> None:
    assert parse_if_match(None) is None
    assert parse_if_match('"3"') == ("3",)
    assert parse_if_match('W/"3", "4"') == ("3", "4")
    assert parse_if_match("3") == ("3",)
    assert parse_if_match("*") == ("*",)
    with pytest.raises(ApiError) as refused:
        parse_if_match('"3')
    assert refused.value.field == "If-Match"


def test_etags_are_versions_or_content_hashes() -> None:
    assert etag_value({"sku": "A", "version": 4}) == "4"
    assert etag_value({"sku": "A", "uom": "EA"}) == etag_value({"uom": "EA", "sku": "A"})
    assert etag_value({"sku": "A", "uom": "EA"}) != etag_value({"sku": "A", "uom": "KG"})
    assert etag_value({"items": []}) is None and etag_value(None) is None


def test_a_precondition_names_the_current_version() -> None:
    Precondition(if_match=("2",), version=2).check("customer", {"version": 2})
    Precondition(if_match=("*",)).check("customer", {"version": 9})
    with pytest.raises(ApiError) as by_header:
        Precondition(if_match=("1",)).check("customer", {"version": 2})
    with pytest.raises(ApiError) as by_field:
        Precondition(version=1).check("customer", {"version": 2})
    with pytest.raises(ApiError) as absent:
        Precondition(version=1).check_absent("address")

    assert (by_header.value.status, by_header.value.field, by_header.value.extra["current_version"]) == (
        412,
        "If-Match",
        2,
    )
    assert (by_field.value.field, by_field.value.headers["ETag"]) == ("version", '"2"')
    assert absent.value.status == 412


# errors and validation


def test_field_paths_read_like_the_body() -> None:
    assert field_path(("body", "lines", 0, "sku")) == "lines[0].sku"
    assert field_path(("query", "limit")) == "limit"
    assert field_path(("header", "Idempotency-Key")) == "Idempotency-Key"
    assert field_path(("body",)) == "body"


def test_validation_errors_lead_with_the_first_field_and_list_all() -> None:
    with pytest.raises(ValidationError) as invalid:
        CustomerCreate.model_validate({"credit_limit": "1.234", "colour": "red"})
    status, body = validation_body([{**e, "loc": ("body", *e["loc"])} for e in invalid.value.errors()])

    assert status == 422
    assert {e["field"] for e in body["errors"]} == {"name", "credit_limit", "colour"}
    fixes = {e["field"]: e["fix"] for e in body["errors"]}
    assert fixes["name"] == "add name" and "2 decimal places" in fixes["credit_limit"]
    assert fixes["colour"].startswith("remove colour")
    assert validation_body([{"type": "json_invalid", "loc": ("body", 1), "msg": "bad"}])[0] == 400


def test_a_nul_in_crm_text_is_refused_naming_its_field() -> None:
    """PostgreSQL cannot store a NUL in text; the CRM says which field has one instead of "None"."""
    with pytest.raises(ValidationError) as invalid:
        CustomerPatch.model_validate({"name": "Ok", "phone": "+86 21\x00 5555"})
    status, body = validation_body([{**e, "loc": ("body", *e["loc"])} for e in invalid.value.errors()])
    assert status == 422 and body["field"] == "phone"
    assert "may not contain a NUL character" in body["error"]
    with pytest.raises(ValidationError, match=r"contacts\.0\.role"):
        CustomerCreate.model_validate({"name": "Ok", "contacts": [{"first_name": "A", "last_name": "B",
                                                                   "role": "\x00"}]})


def test_a_value_postgresql_refuses_without_details_is_still_explained() -> None:
    """psycopg refuses a NUL in text itself, with no diagnostics: the answer says what was wrong and how to fix
    it, never ``{"error": "None", "fix": "correct None"}``."""
    with pytest.raises(psycopg.DataError) as refused:
        Transformer().get_dumper("a\x00b", PyFormat.TEXT).dump("a\x00b")
    answer = PostgresDialect().translate(refused.value)
    assert answer is not None and answer.status == 422
    assert "NUL" in answer.error and "None" not in answer.error
    assert answer.fix == "remove the NUL character from the request's text values"
    other = PostgresDialect().translate(psycopg.errors.NumericValueOutOfRange("numeric field overflow"))
    assert other is not None and other.error.startswith("numeric field overflow (the database did not say")
    assert "None" not in other.fix


def test_an_erp_schema_error_is_a_500_with_the_database_message_not_an_outage() -> None:
    """The trial dropped an ERP column: pymysql raises OperationalError for "Unknown column", which was answered
    503 "database unavailable", so the sink retried it for ever behind its circuit breaker."""
    unknown = MariaDbDialect().translate(pymysql.err.OperationalError(1054, "Unknown column 'phone' in 'field list'"))
    assert unknown is not None and unknown.status == 500 and "Retry-After" not in unknown.headers
    assert unknown.error == "the ERP database refused the statement: Unknown column 'phone' in 'field list'"
    assert "schema" in unknown.fix
    missing = MariaDbDialect().translate(pymysql.err.ProgrammingError(1146, "Table 'erp.accounts' doesn't exist"))
    assert missing is not None and missing.status == 500


@pytest.mark.parametrize("exc", [
    pymysql.err.OperationalError(2013, "Lost connection to server during query"),
    pymysql.err.OperationalError(2003, "Can't connect to MySQL server"),
    pymysql.err.OperationalError(1040, "Too many connections"),
    pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"),
    pymysql.err.InterfaceError(0, ""),
])
def test_erp_connectivity_and_lock_timeouts_stay_503(exc: Exception) -> None:
    answer = MariaDbDialect().translate(exc)
    assert answer is not None and answer.status == 503 and answer.headers == {"Retry-After": "1"}


def test_a_crm_schema_error_is_a_500_with_the_database_message() -> None:
    answer = PostgresDialect().translate(psycopg.errors.UndefinedColumn('column "phone" does not exist'))
    assert answer is not None and answer.status == 500 and 'column "phone" does not exist' in answer.error


def test_a_taken_account_code_names_its_account_and_a_fix_a_mapping_user_can_make() -> None:
    """Isthmus sends the account code its mapping makes from the customer number: "leave account_code out" is no
    fix there; linking the account that has it, or renaming one of the two, is."""
    answer = code_taken("AC-000123", {"account_id": 42, "crm_customer_number": None}, "C-000123").body()
    assert answer["error"] == "account code AC-000123 is taken by account 42 (linked to no CRM customer)"
    assert answer["field"] == "account_code" and answer["account_id"] == 42
    assert "link it (PATCH /accounts/42 with crm_customer_number C-000123)" in answer["fix"]
    assert "rename one of the two" in answer["fix"] and "mappings/account.yaml" in answer["fix"]
    assert not answer["fix"].startswith("leave account_code out")
    other = code_taken("AC-000123", {"account_id": 7, "crm_customer_number": "C-000999"}, None).body()
    assert "(linked to CRM customer C-000999)" in other["error"]


def test_money_is_exact_in_and_a_two_place_string_out() -> None:
    created = CustomerCreate.model_validate({"name": "A", "credit_limit": 0.1, "open_balance": "-5"})
    product = Product.model_validate(
        {
            "sku": "S",
            "name": "N",
            "list_price": Decimal("12.5"),
            "available_qty": Decimal("3"),
            "version": 1,
            "updated_at": datetime(2024, 1, 1, tzinfo=UTC),
        }
    )

    assert created.credit_limit == Decimal("0.1") and created.open_balance == Decimal("-5")
    assert product.model_dump(mode="json")["list_price"] == "12.50"
    assert product.model_dump(mode="json")["available_qty"] == "3.000"
    with pytest.raises(ValidationError):
        CustomerCreate.model_validate({"name": "A", "credit_limit": "NaN"})


def test_one_address_of_each_kind() -> None:
    address = {"kind": "billing", "line1": "1 Road", "city": "Wuhan", "country": "CN"}
    with pytest.raises(ValidationError, match="two addresses of one kind"):
        CustomerCreate.model_validate({"name": "A", "addresses": [address, address]})


def test_a_patch_changes_only_what_was_sent() -> None:
    assert changes(CustomerPatch.model_validate({"email": None, "version": 3})) == {"email": None}
    with pytest.raises(ApiError) as null_name:
        changes(CustomerPatch.model_validate({"name": None}), not_null=("name",))
    with pytest.raises(ApiError) as empty:
        changes(CustomerPatch.model_validate({"version": 3}))
    assert null_name.value.field == "name" and empty.value.field == "body"


# ERP time and lifecycle


def test_times_become_zone_local_wall_clock_to_the_millisecond() -> None:
    moment = datetime(2024, 3, 1, 0, 30, 0, 123456, tzinfo=UTC)

    local = to_local(moment, SHANGHAI)

    assert local == datetime(2024, 3, 1, 8, 30, 0, 123000) and local.tzinfo is None
    assert from_local(local, SHANGHAI).isoformat() == "2024-03-01T08:30:00.123000+08:00"
    assert to_local(datetime(2024, 7, 1, 12, 0, tzinfo=UTC), ZoneInfo("Europe/Berlin")) == datetime(
        2024, 7, 1, 14
    )
    with pytest.raises(ValueError, match="no offset"):
        to_local(datetime(2024, 3, 1), SHANGHAI)


def test_the_lifecycle_allows_only_the_next_step() -> None:
    lifecycle.check_transition("reserved", "shipped")
    lifecycle.check_transition("reserved", "cancelled")
    lifecycle.check_transition("invoiced", "paid")
    for current, target in (("reserved", "invoiced"), ("shipped", "cancelled"), ("paid", "reserved")):
        with pytest.raises(ApiError) as refused:
            lifecycle.check_transition(current, target)
        assert refused.value.status == 409 and refused.value.field == "status"
    assert [lifecycle.next_status(s) for s in ("reserved", "shipped", "invoiced", "paid")] == [
        "shipped",
        "invoiced",
        "paid",
        None,
    ]


def test_due_dates_follow_payment_terms() -> None:
    assert lifecycle.due_date(date(2024, 1, 31), "NET30") == date(2024, 3, 1)
    assert lifecycle.due_date(date(2024, 1, 31), "COD") == date(2024, 1, 31)


# faults


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_counted_fault_applies_to_writes_and_runs_out() -> None:
    switch = FaultSwitch()
    switch.set(FaultPlan(mode="throttle", retry_after=3, count=2))

    assert switch.take("GET", "/customers") is None
    first, second, third = (switch.take("POST", "/customers") for _ in range(3))

    assert first is not None and (first.status, first.retry_after) == (429, 3)
    assert second is not None and third is None
    assert switch.state() == {"active": None, "applied": 2}
    assert switch.take("POST", "/_faults") is None


def test_an_outage_fails_everything_until_it_expires() -> None:
    clock = Clock()
    switch = FaultSwitch(clock)
    switch.set(FaultPlan(mode="outage", seconds=10))

    during = switch.take("GET", "/health")
    clock.now += 10

    assert during is not None and (during.status, during.retry_after) == (503, 10)
    assert switch.take("GET", "/health") is None and switch.state()["active"] is None


def test_error_phases_and_latency() -> None:
    switch = FaultSwitch()
    switch.set(FaultPlan(mode="error", status=500, phase="after"))
    after = switch.take("PATCH", "/x")
    switch.set(FaultPlan(mode="latency", ms=250, scope="all"))
    slow = switch.take("GET", "/x")

    assert after is not None and (after.kind, after.status) == ("after", 500)
    assert slow is not None and (slow.kind, slow.delay_seconds) == ("delay", 0.25)


def _unused_transactions() -> Transactions[object]:
    def never() -> object:
        raise AssertionError("no database in this test")

    class Dialect:
        keys = None

        def commit(self, conn: object) -> None: ...

        def rollback(self, conn: object) -> None: ...

        def translate(self, exc: Exception) -> ApiError | None:
            return None

    pool: ConnectionPool[object] = ConnectionPool(
        connect=never, reusable=lambda c: False, close=lambda c: None
    )
    return Transactions(pool, Dialect())  # type: ignore[arg-type]


def test_the_fault_switch_answers_loopback_clients_only() -> None:
    app = new_app(title="t", description="t", transactions=_unused_transactions(), ping=lambda c: None)

    async def call(client: tuple[str, int], method: str, body: object = None) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://reference") as http:
            return await http.request(method, "/_faults", json=body)

    remote = asyncio.run(call(("203.0.113.9", 5000), "POST", {"mode": "outage"}))
    local = asyncio.run(call(("127.0.0.1", 5000), "GET"))

    assert remote.status_code == 403 and remote.json()["field"] == "client"
    assert local.status_code == 200 and local.json() == {"active": None, "applied": 0}


# configuration and addresses


def test_configuration_names_every_bad_variable() -> None:
    with pytest.raises(ConfigError) as bad:
        CrmConfig.from_env(
            {
                "REFERENCE_HTTP_HOST": "192.168.1.5",
                "REFERENCE_HTTP_PORT": "http",
                "REFERENCE_DB_SCHEMA": "crm; drop",
            }
        )
    message = str(bad.value)

    for name in (
        "REFERENCE_HTTP_HOST",
        "REFERENCE_HTTP_PORT",
        "REFERENCE_DB_PASSWORD",
        "REFERENCE_DB_SCHEMA",
    ):
        assert name in message


def test_configuration_defaults_match_the_stack() -> None:
    crm = CrmConfig.from_env({"REFERENCE_DB_PASSWORD": "s3cret-value"})
    erp = ErpConfig.from_env({"REFERENCE_DB_PASSWORD": "s3cret-value"})

    assert (crm.app.http_host, crm.app.http_port, crm.app.db.port, crm.app.db.name, crm.schema) == (
        "127.0.0.1",
        18001,
        15432,
        "crm",
        "crm",
    )
    assert (erp.app.http_port, erp.app.db.port, erp.app.db.name, erp.time_zone) == (
        18002,
        13306,
        "erp",
        SHANGHAI,
    )
    assert "s3cret-value" not in repr(crm) and crm.app.db.password.reveal() == "s3cret-value"


def test_loopback_checks() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "example.com", ""))
    assert require_loopback_url("http://127.0.0.1:18001/", "--crm-url") == "http://127.0.0.1:18001"
    with pytest.raises(NotLoopback, match="--erp-url"):
        require_loopback_url("http://10.0.0.1:18002", "--erp-url")


# schemas


def test_the_crm_schema_is_rewritten_for_another_schema_name() -> None:
    sql = schema_sql("crm_test_1")

    assert "CREATE SCHEMA IF NOT EXISTS crm_test_1;" in sql and "SET search_path TO crm_test_1;" in sql
    assert "EXISTS crm;" not in sql


def test_the_erp_schema_splits_into_its_statements() -> None:
    parts = statements(SCHEMA_FILE.read_text(encoding="utf-8"))

    assert len(parts) == SCHEMA_FILE.read_text(encoding="utf-8").count("CREATE TABLE IF NOT EXISTS")
    assert all(p.startswith("CREATE TABLE IF NOT EXISTS") and not p.endswith(";") for p in parts)


# generator and simulator


def test_the_same_seed_makes_the_same_records_and_another_seed_does_not() -> None:
    spec = GenerationSpec(customers=50, seed=9, skus=15)
    items = products(spec)

    assert list(customers(spec, items)) == list(
        customers(GenerationSpec(customers=50, seed=9, skus=15), items)
    )
    assert stock(spec, items) == stock(spec, products(spec))
    other = GenerationSpec(customers=50, seed=10, skus=15)
    assert list(customers(other, products(other))) != list(customers(spec, items))
    first = next(customers(spec, items))
    assert first.number == "C-000001" and first.addresses[0].kind == "billing" and first.contacts


def test_generator_options_are_checked() -> None:
    with pytest.raises(InvalidSpec) as bad:
        GenerationSpec(customers=0, seed=1, skus=0, sku_prefix="a b", orders_per_customer=99)
    for option in ("--customers", "--skus", "--sku-prefix", "--orders-per-customer"):
        assert option in str(bad.value)


def test_simulator_options_and_outcomes() -> None:
    with pytest.raises(InvalidSimulation, match="--rate"):
        SimulationSpec(crm_url="http://127.0.0.1:1", erp_url="http://127.0.0.1:2", rate=0, seconds=1, seed=1)
    with pytest.raises(NotLoopback):
        SimulationSpec(crm_url="http://8.8.8.8:1", erp_url="http://127.0.0.1:2", rate=1, seconds=1, seed=1)
    assert (
        SimulationSpec(
            crm_url="http://127.0.0.1:1", erp_url="http://127.0.0.1:2", rate=2, seconds=3, seed=1
        ).action_limit
        == 6
    )
    assert [classify(s) for s in (201, 409, 412, 429, 422, 503)] == [
        "ok",
        "conflict",
        "conflict",
        "throttled",
        "client_error",
        "server_error",
    ]


def test_a_batch_item_refused_because_an_earlier_try_of_its_key_committed_meanwhile_is_replayed() -> None:
    """A sink's batch timed out and was sent again while the first try was still running: the second try found
    no key at its start, then its item ran into the first try's row (409 "already exists") as the first try
    committed. The item is the first try's answer replayed, as the single call's is, not a refusal."""
    from contextlib import contextmanager
    from typing import Any

    from reference.common.transactions import BatchWrite, WriteRequest

    hashed = request_hash("POST", "/accounts", b'{"name": "A"}')
    first = StoredAnswer(method="POST", path="/accounts", request_hash=hashed, status=201, body={"account_id": 7})
    request = WriteRequest(method="POST", path="/accounts", key="k-1", hashed=hashed, if_match=None)

    class Cursor:
        def __enter__(self) -> Cursor:
            return self

        def __exit__(self, *exc: object) -> None: ...

        def execute(self, statement: str) -> None: ...

    class Conn:
        def cursor(self) -> Cursor:
            return Cursor()

    committed: dict[str, StoredAnswer] = {}

    class Keys:
        def find_many(self, conn: object, keys: list[str]) -> dict[str, StoredAnswer]:
            return {k: committed[k] for k in keys if k in committed}

        def find(self, conn: object, key: str) -> StoredAnswer | None:
            return committed.get(key)

    class Dialect:
        keys = Keys()

        def commit(self, conn: object) -> None: ...

        def rollback(self, conn: object) -> None: ...

        def translate(self, exc: Exception) -> ApiError | None:
            return None

    class Pool:
        @contextmanager
        def connection(self) -> Any:
            yield Conn()

    def insert(conn: object, item: BatchWrite[object]) -> Any:
        committed["k-1"] = first  # the first try commits while this one waits on its row
        raise ApiError(409, "an account for CRM customer C-1 already exists", field="crm_customer_number")

    answers = Transactions(Pool(), Dialect()).write_batch(  # type: ignore[arg-type]
        [BatchWrite(request=request, value=None)], insert)
    assert [(a.status, a.body, a.key_status) for a in answers] == [(201, {"account_id": 7}, "replayed")]
