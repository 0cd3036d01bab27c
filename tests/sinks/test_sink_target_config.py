"""Target files: the shipped ones load; a bad one is refused with file, line, key and fix for every problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streams.sinks.config import Constant, EachItem, FromField, HttpRoute, SqlRoute, load_target
from streams.sinks.exceptions import TargetConfigError
from streams.stack.settings import PROJECT_ROOT

GOOD = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: update
    method: PATCH
    path: /accounts/{account_id}
    lookups:
      account_id: {path: "/accounts/by-customer/{crm_customer_number}", take: account_id}
    body:
      name: name
      billing_city: billing_address.city
      active: {value: true}
"""


def write(tmp_path: Path, text: str, name: str = "erp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(TargetConfigError) as caught:
        load_target(path)
    return str(caught.value)


@pytest.mark.parametrize("system", ["crm", "erp"])
def test_the_shipped_target_files_load(system: str) -> None:
    config = load_target(PROJECT_ROOT / "targets" / f"{system}.yaml")
    assert config.system == system and config.adapter == "http" and config.routes
    assert config.http is not None and config.http.auth is not None and not config.http.auth.required


def test_a_good_file_becomes_typed_routes(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, GOOD))
    route = config.route("isthmus.canonical.Account", "update")
    assert isinstance(route, HttpRoute)
    assert route.method == "PATCH" and route.line == 4
    assert route.body == {"name": FromField(path="name"), "billing_city": FromField(path="billing_address.city"),
                          "active": Constant(value=True)}
    assert route.lookups["account_id"].take == "account_id"


def test_every_problem_is_listed_with_its_line_key_and_fix(tmp_path: Path) -> None:
    message = refused(write(tmp_path, """\
        system: erp
        adapter: http
        routes:
          - payload_type: Account
            operation: upsert-ish
            method: PUSH
            path: /accounts/{acount_id}
            body:
              name: nmae
            colour: blue
        """))
    assert "erp.yaml is not a valid target file (5 problems)" in message
    assert "erp.yaml:5: routes[0].operation: 'upsert-ish' is not a command operation; fix: use one of create" in message
    assert "erp.yaml:6: routes[0].method: 'PUSH' is not an HTTP method; fix: use one of GET, POST" in message
    assert "erp.yaml:7: routes[0].path: the payload has no field 'acount_id'" in message
    assert "erp.yaml:9: routes[0].body.name: the payload has no field 'nmae'; its fields: account_id" in message
    assert "erp.yaml:10: routes[0].colour: 'colour' is not a key of a route; fix: remove it" in message


def test_a_path_placeholder_must_be_a_payload_field_or_a_lookup(tmp_path: Path) -> None:
    message = refused(write(tmp_path, GOOD.replace("/accounts/{account_id}", "/accounts/{acct}")))
    assert "erp.yaml:7: routes[0].path: the payload has no field 'acct'" in message
    assert "or a lookup (account_id)" in message


def test_a_placeholder_must_be_a_single_value(tmp_path: Path) -> None:
    message = refused(write(tmp_path, GOOD.replace("/accounts/{account_id}", "/accounts/{billing_address}")))
    assert "billing_address is a record or array, not a single value" in message


def test_unknown_payload_type_lists_the_known_ones(tmp_path: Path) -> None:
    message = refused(write(tmp_path, GOOD.replace("payload_type: Account", "payload_type: Acount")))
    assert "erp.yaml:4: routes[0].payload_type: no schema named 'Acount'; fix: use one of" in message
    assert "Account" in message


def test_a_second_route_for_the_same_payload_and_operation_is_refused(tmp_path: Path) -> None:
    route = GOOD.split("routes:\n", 1)[1]
    message = refused(write(tmp_path, GOOD + route))
    assert "a second route for isthmus.canonical.Account update (the first is at line 4)" in message


def test_secrets_are_never_written_in_the_file(tmp_path: Path) -> None:
    message = refused(write(tmp_path, GOOD.replace("routes:", "http:\n  auth:\n    header: Authorization\n"
                                                            "    token: s3cr3t\nroutes:")))
    assert "http.auth.token: a secret value must never be written in a target file" in message
    assert "auth names no source for its secret" in message
    assert "s3cr3t" not in message


def test_each_maps_array_items_against_the_item_schema(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        system: erp
        adapter: http
        routes:
          - payload_type: SalesOrder
            operation: create
            method: POST
            path: /orders
            body:
              lines: {from: lines, each: {sku: sku, qty: quantity}}
        """)
    route = load_target(path).route("isthmus.canonical.SalesOrder", "create")
    assert isinstance(route, HttpRoute) and route.body is not None
    lines = route.body["lines"]
    assert isinstance(lines, EachItem) and lines.fields == {"sku": FromField(path="sku"),
                                                            "qty": FromField(path="quantity")}
    broken = write(tmp_path, path.read_text().replace("qty: quantity", "qty: quantiy"), "broken.yaml")
    assert "routes[0].body.lines.each.qty: the payload has no field 'quantiy'" in refused(broken)
    not_array = write(tmp_path, path.read_text().replace("from: lines", "from: currency"), "scalar.yaml")
    assert "currency is not an array" in refused(not_array)


def test_a_batch_endpoint_is_in_the_plan_sink_check_prints(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, GOOD + "    batch: {method: POST, path: /accounts/batch, max_items: 50}\n"))
    [route] = config.routes.values()
    assert route.plan() == "PATCH /accounts/{account_id}, in batches of up to 50 by POST /accounts/batch (linger 20 ms)"


def test_batch_endpoints_are_checked(tmp_path: Path) -> None:
    message = refused(write(tmp_path, GOOD + "    batch: {method: GET, path: '/accounts/{x}', max_items: 0}\n"))
    assert "routes[0].batch.method: 'GET' cannot carry a batch body" in message
    assert "routes[0].batch.path: '/accounts/{x}' must be a fixed path" in message
    assert "routes[0].batch.max_items: max_items must be a whole number of at least 1" in message


def test_a_sql_route_needs_its_key_among_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        system: crm
        adapter: sql
        sql: {keys_table: public.keys}
        routes:
          - payload_type: ProductAvailability
            operation: upsert
            table: public.availability
            key: [sku]
            columns: {sku: sku, qty: available_qty}
        """, "crm.yaml")
    route = load_target(path).route("isthmus.canonical.ProductAvailability", "upsert")
    assert isinstance(route, SqlRoute) and route.key == ("sku",) and route.action == "upsert"
    broken = write(tmp_path, path.read_text().replace("key: [sku]", "key: [code]"), "broken.yaml")
    assert "routes[0].key: key column 'code' is not among the columns; fix: add code to columns" in refused(broken)
    table = write(tmp_path, path.read_text().replace("public.availability", "public.avail; drop"), "t.yaml")
    assert "routes[0].table: 'public.avail; drop' is not a valid table" in refused(table)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    message = refused(write(tmp_path, "system: erp\nroutes: [\n  - a: b\n"))
    assert "erp.yaml:" in message and "not valid YAML" in message and "fix: correct the YAML syntax" in message


def test_a_missing_file_names_the_known_ones(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "crm.yaml")
    message = refused(tmp_path / "erp.yaml")
    assert "no such target file; known: crm.yaml" in message and "ISTHMUS_SINK_TARGETS_DIR" in message


def test_adapter_and_system_must_be_known(tmp_path: Path) -> None:
    message = refused(write(tmp_path, GOOD.replace("system: erp", "system: sap").replace("adapter: http",
                                                                                      "adapter: soap")))
    assert "erp.yaml:1: system: 'sap' is not a system; fix: use one of crm, erp" in message
    assert "erp.yaml:2: adapter: 'soap' is not an adapter" in message


def test_a_quoted_table_name_is_told_to_be_written_as_it_is(tmp_path: Path) -> None:
    """A new user quoted a mixed-case PostgreSQL table (`table: '"Sales"."Product"'`) and was told only to give a
    table: the fix now says names are written without quotes and quoted as written, case and all."""
    path = write(tmp_path, """
        system: crm
        adapter: sql
        sql: {keys_table: '"Sales".isthmus_sink_keys'}
        routes:
          - payload_type: ProductAvailability
            operation: upsert
            table: '"Sales"."Product"'
            key: [sku]
            columns: {sku: sku, qty: available_qty}
        """, "crm.yaml")
    message = refused(path)
    for said in ("routes[0].table: '\"Sales\".\"Product\"' is not a valid table",
                 "sql.keys_table: '\"Sales\".isthmus_sink_keys' is not a valid keys_table"):
        assert said in message, message
    assert message.count("write it without quotes: each name is quoted as written, case and all (Sales.Product is "
                         "PostgreSQL's \"Sales\".\"Product\", MariaDB's `Sales`.`Product`)") == 2
