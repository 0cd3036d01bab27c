"""A mapping file with an error is refused at load, naming the file, the line, the field and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.systems import reference_with, system, tables_with

from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import MappingLoadError, Problem, RecordMapping, load_mapping, load_mappings

HEADER = """
target: isthmus.canonical.Invoice
key: invoice_id
owner: erp
policy: owner_wins
sources:
  erp_invoices:
    system: erp
    table: invoices
    fields:
      invoice_id: invoice_id
      invoice_no: invoice_no
      erp_order_id: order_id
      erp_account_id: account_id
      amount: amount
      due_date: due_date
"""


def problems(load: Callable[..., RecordMapping], text: str) -> tuple[Problem, ...]:
    with pytest.raises(MappingLoadError) as caught:
        load(text)
    return caught.value.problems


def only(load: Callable[..., RecordMapping], text: str) -> Problem:
    found = problems(load, text)
    assert len(found) == 1, found
    return found[0]


def test_a_valid_file_loads(load: Callable[..., RecordMapping]) -> None:
    mapping = load(HEADER + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n")
    assert mapping.target == "isthmus.canonical.Invoice" and mapping.key == ("invoice_id",)


def test_error_names_file_line_field_and_fix(load: Callable[..., RecordMapping]) -> None:
    problem = only(load, HEADER + "      issued_at: issued_at\n")
    assert problem.file.suffix == ".yaml" and problem.line == 16
    assert problem.field == "sources.erp_invoices.fields.issued_at"
    assert "zone-less local time" in problem.message and "local_to_utc" in problem.fix
    assert str(problem).startswith(f"{problem.file}:16: sources.erp_invoices.fields.issued_at: ")


def test_unknown_target_field(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load, HEADER + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n      issued_on: issued_at\n"
    )
    assert problem.line == 17 and problem.field.endswith("fields.issued_on")
    assert "no field 'issued_on'" in problem.message and "issued_at" in problem.fix


def test_unknown_column_lists_the_captured_ones(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load,
        HEADER.replace("invoice_no: invoice_no", "invoice_no: invoice_number")
        + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n",
    )
    assert problem.line == 11 and problem.field == "sources.erp_invoices.fields.invoice_no"
    assert "'invoice_number' is not a column of erp.invoices (erp.columns.yaml)" in problem.message
    assert "invoice_no" in problem.fix and "re-run `isthmus mappings discover erp`" in problem.fix


def test_every_problem_is_reported_at_once(load: Callable[..., RecordMapping]) -> None:
    found = problems(
        load,
        HEADER.replace("amount: amount", "amount: {from: amount, transform: [shout]}")
        + "      issued_at: issued_at\n      nope: invoice_no\n",
    )
    assert {p.line for p in found} == {14, 16, 17}


def test_decimal_scale_loss_needs_rounding(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load,
        """
        target: StockLevel
        key: [sku, warehouse_code]
        owner: erp
        policy: owner_wins
        sources:
          s:
            system: erp
            table: stock
            fields:
              sku: sku
              warehouse_code: warehouse_code
              on_hand: on_hand
              reserved: {from: reserved, transform: [{decimal: {scale: 2}}]}
        """,
    )
    assert problem.line == 13 and "scale 3 down to 2" in problem.message and "rounding" in problem.fix


def test_nullable_column_into_required_field(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load,
        """
        target: Shipment
        key: shipment_id
        owner: erp
        policy: owner_wins
        sources:
          s:
            system: erp
            table: shipments
            fields:
              shipment_id: shipment_id
              erp_order_id: order_id
              shipped_at: {from: shipped_at, transform: [local_to_utc]}
              carrier: tracking_no
        """,
    )
    assert problem.line == 13 and "may be null" in problem.message and "default" in problem.fix


def test_value_map_must_cover_the_enum_and_land_on_symbols(load: Callable[..., RecordMapping]) -> None:
    text = """
        target: SalesOrder
        key: order_number
        owner: erp
        policy: latest_commit_wins
        value_maps:
          status: {reserved: reserved, shipped: shipped, invoiced: invoiced, paid: paid}
        sources:
          s:
            system: erp
            table: sales_orders
            fields:
              order_number: {from: crm_order_number, transform: [required]}
              status: {from: status, transform: [{map: status}]}
        """
    problem = only(load, text)
    assert problem.line == 13 and "no entry for cancelled" in problem.message
    problem = only(load, text.replace("paid: paid}", "paid: paid, cancelled: voided}"))
    assert "voided" in problem.message and "OrderStatus" in problem.message


def test_unknown_transform_and_bad_arguments(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load,
        HEADER.replace("invoice_no: invoice_no", "invoice_no: {from: invoice_no, transform: [shout]}")
        + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n",
    )
    assert problem.line == 11 and "no transform named 'shout'" in problem.message and "plugins" in problem.fix
    problem = only(
        load, HEADER + "      issued_at: {from: issued_at, transform: [{local_to_utc: {zone: Mars/Base}}]}\n"
    )
    assert problem.line == 16 and "Mars/Base" in problem.message


def test_a_replace_pattern_python_refuses_names_its_line_and_the_fix(load: Callable[..., RecordMapping]) -> None:
    """``replace`` (tests/mapping/test_mapping_replace.py) compiles its pattern at load, not at the first value."""
    issued = "      issued_at: {from: issued_at, transform: [local_to_utc]}\n"
    step = "invoice_no: {from: invoice_no, transform: [{replace: {pattern: '%s', with: ''}}]}"
    mapping = load(HEADER.replace("invoice_no: invoice_no", step % "\\s+") + issued)
    (kept,) = mapping.sources[0].bindings["invoice_no"].steps
    assert kept.apply("INV 2026 0001", None) == "INV20260001"  # type: ignore[arg-type]
    problem = only(load, HEADER.replace("invoice_no: invoice_no", step % "(INV") + issued)
    assert (problem.line, problem.field) == (11, "sources.erp_invoices.fields.invoice_no transform: replace")
    assert "'(INV' is no regular expression: missing )" in problem.message and "single quotes" in problem.fix


def test_missing_owner_and_policy(load: Callable[..., RecordMapping]) -> None:
    text = HEADER.replace("owner: erp\npolicy: owner_wins\n", "fields:\n  amount: {owner: erp, policy: owner_wins}\n")
    found = problems(load, text + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n")
    fields = {p.field for p in found}
    assert "fields.invoice_no" in fields and "fields.amount" not in fields
    assert all("owner" in p.fix for p in found)


def test_unknown_policy_names_the_choices(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load,
        HEADER.replace("policy: owner_wins", "policy: loudest_wins")
        + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n",
    )
    assert problem.line == 4 and "latest_commit_wins" in problem.fix


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "is not allowed"),
        ("amount.real", "Attribute"),
        ("amount[0]", "Subscript"),
        ("open(amount)", "function 'open'"),
        ("amount +", "not an expression"),
        ("amout * 2", "reads amout"),
    ],
)
def test_expressions_outside_the_language_are_refused(
    load: Callable[..., RecordMapping], expression: str, message: str
) -> None:
    problem = only(
        load,
        HEADER.replace("amount: amount", f'amount: {{compute: "{expression}"}}')
        + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n",
    )
    assert problem.line == 14 and message in problem.message


def test_yaml_syntax_error_has_its_line(load: Callable[..., RecordMapping]) -> None:
    problem = only(load, "target: Invoice\nkey: invoice_id\nsources:\n  s: {system: erp\n")
    assert problem.line >= 4 and "YAML" in problem.message


def test_duplicate_keys_are_refused(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load, HEADER + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n      amount: amount\n"
    )
    assert problem.line == 17 and "appears twice (first on line 14)" in problem.message


def test_source_must_bind_the_key(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load,
        HEADER.replace("      invoice_id: invoice_id\n", "")
        + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n",
    )
    assert "does not bind the key field 'invoice_id'" in problem.message


SHIPMENTS = """
    target: Shipment
    key: shipment_id
    owner: erp
    policy: owner_wins
    sources:
      s:
        system: erp
        table: deliveries
        fields: {shipment_id: id, erp_order_id: order_id, shipped_at: shipped, carrier: carrier}
    """


def test_unknown_table_names_the_columns_file_and_discover(load: Callable[..., RecordMapping]) -> None:
    problem = only(load, SHIPMENTS)
    assert problem.line == 8 and problem.field == "sources.s.table"
    assert "erp has no table 'deliveries' in erp.columns.yaml" in problem.message
    assert "shipments" in problem.fix and "re-run `isthmus mappings discover erp`" in problem.fix


def test_a_column_list_is_refused_in_favour_of_the_columns_file(load: Callable[..., RecordMapping]) -> None:
    listed = SHIPMENTS.replace("table: deliveries",
                               "table: deliveries\n        columns: [id, order_id, shipped, carrier]")
    problem = only(load, listed)
    assert problem.line == 9 and problem.field == "sources.s.columns"
    assert "no longer read" in problem.message and "systems/erp.columns.yaml" in problem.message
    assert "isthmus mappings discover erp" in problem.fix


def test_a_system_without_a_columns_file_is_refused(load: Callable[..., RecordMapping]) -> None:
    with pytest.raises(MappingLoadError) as caught:
        load(HEADER + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n", tables={})
    (problem,) = caught.value.problems
    assert problem.line == 7 and problem.field == "sources.erp_invoices.system"
    assert "no columns file" in problem.message and "isthmus mappings discover erp" in problem.fix


def test_on_delete_value_must_fit_the_field(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load,
        HEADER + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n"
        "    on_delete: {set: {deleted: maybe}}\n",
    )
    assert problem.line == 17 and problem.field.endswith("on_delete.deleted")


def test_required_record_field_never_bound(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load,
        HEADER.replace("      amount: amount\n", "")
        + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n",
    )
    assert problem.field == "amount" and "no default and no source binds it" in problem.message


def test_unknown_target_record(load: Callable[..., RecordMapping]) -> None:
    problem = only(load, HEADER.replace("isthmus.canonical.Invoice", "isthmus.canonical.Bill"))
    assert problem.line == 1 and problem.field == "target" and "Invoice" in problem.message


def test_missing_plugin_file(load: Callable[..., RecordMapping]) -> None:
    problem = only(
        load,
        "plugins:\n  e164: ./nowhere.py:f\n"
        + HEADER
        + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n",
    )
    assert problem.line == 2 and problem.field == "plugins.e164" and "does not exist" in problem.message


def test_load_mappings_reports_every_file(schemas: SchemaSet, write_mapping: Callable[..., Path]) -> None:
    write_mapping(HEADER + "      issued_at: issued_at\n", "a.yaml")
    write_mapping("target: Nope\nkey: x\nsources: {}\n", "b.yaml")
    folder = write_mapping(HEADER + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n", "c.yaml").parent
    with pytest.raises(MappingLoadError) as caught:
        load_mappings(folder, schemas=schemas)
    assert {Path(p.file).name for p in caught.value.problems} == {"a.yaml", "b.yaml"}
    assert "mapping refused (2 problems)" in str(caught.value)


def test_the_repository_mappings_load(mappings: dict[str, RecordMapping]) -> None:
    assert set(mappings) >= {
        "customer",
        "contact",
        "customer_account_xref",
        "account",
        "sales_order",
        "sales_order_line",
        "invoice",
        "payment",
        "shipment",
        "stock_level",
        "product_availability",
    }


def test_repository_mapping_files_with_an_error_name_the_line(
    schemas: SchemaSet, write_mapping: Callable[..., Path]
) -> None:
    original = (Path(__file__).resolve().parents[2] / "mappings" / "customer.yaml").read_text()
    broken = original.replace(
        "credit_limit: credit_limit\n      payment_terms: payment_terms\n      blocked: {from",
        "credit_limit: credit_limt\n      payment_terms: payment_terms\n      blocked: {from",
    )
    path = write_mapping(broken, "customer.yaml")
    line = broken.splitlines().index("      credit_limit: credit_limt") + 1
    with pytest.raises(MappingLoadError) as caught:
        load_mapping(path, schemas=schemas)
    (problem,) = caught.value.problems
    assert problem.line == line and problem.field == "sources.erp_accounts.fields.credit_limit"


def test_publish_names_a_topic_and_table_sources_of_the_file(load: Callable[..., RecordMapping]) -> None:
    body = HEADER + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n"
    mapping = load(body + "publish: {topic: invoices}\n")
    assert mapping.publish is not None
    assert (mapping.publish.topic, mapping.publish.sources) == ("invoices", ("erp_invoices",))
    problem = only(load, body + "publish: {topic: invoices, sources: [erp_payments]}\n")
    assert (problem.line, problem.field) == (17, "publish.sources")
    assert "no table source 'erp_payments'" in problem.message and "erp_invoices" in problem.fix
    problem = only(load, body + "publish: {topic: 'in voices'}\n")
    assert (problem.field, problem.message) == ("publish.topic", "'in voices' is not a topic name")
    problem = only(load, body + "publish: invoices\n")
    assert problem.field == "publish" and "publish: {topic: <name>" in problem.fix


def test_a_system_no_file_declares_is_refused_with_line_and_the_declared_systems(
        load: Callable[..., RecordMapping]) -> None:
    found = problems(load, HEADER.replace("    system: erp\n", "    system: shop\n"))
    assert [(p.line, p.field) for p in found] == [(7, "sources.erp_invoices.system")]
    assert "'shop' is not a declared system" in found[0].message
    assert "crm, erp" in found[0].fix and "systems" in found[0].fix


def test_an_owner_no_file_declares_is_refused_with_line_and_the_declared_systems(
        load: Callable[..., RecordMapping]) -> None:
    owned = "fields:\n  amount: {owner: billing, policy: owner_wins}\nowner: erp\npolicy: owner_wins\n"
    text = HEADER.replace("owner: erp\npolicy: owner_wins\n", owned)
    problem = only(load, text)
    assert (problem.line, problem.field) == (4, "fields.amount.owner")
    assert "'billing' is not a declared system" in problem.message and "crm, erp" in problem.fix


def test_a_mapping_of_a_third_declared_system_loads(load: Callable[..., RecordMapping]) -> None:
    text = """
        target: isthmus.canonical.Payment
        key: payment_id
        owner: shop
        policy: owner_wins
        sources:
          shop_payments:
            system: shop
            table: shop_payments
            fields:
              payment_id: payment_id
              invoice_id: invoice_id
              erp_account_id: account_id
              amount: amount
              paid_at: {from: paid_at, transform: [local_to_utc]}
        """
    shop = tables_with("shop", shop_payments=("erp", "payments"))
    mapping = load(text, systems=reference_with(system("shop")), tables=shop)
    assert mapping.sources_for("shop", "shop_payments") and mapping.fields_owned_by("shop")
    with pytest.raises(MappingLoadError, match="'shop' is not a declared system"):
        load(text, tables=shop)


def test_a_table_its_systems_connector_does_not_capture_is_refused(load: Callable[..., RecordMapping]) -> None:
    import dataclasses

    from streams.capture.filters import CaptureFilter

    reference = reference_with()
    narrowed = dataclasses.replace(reference["erp"], capture=CaptureFilter.of(
        {"table.include.list": "erp.accounts,erp.payments"}, "mariadb"))
    problem = only(lambda text: load(text, systems=reference_with(narrowed)),
                   HEADER + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n")
    assert problem.line == 8 and problem.field == "sources.erp_invoices.table"
    assert "erp.invoices is not captured by erp's connector erp-source" in problem.message
    assert "table.include.list erp.accounts,erp.payments" in problem.message
    assert "add erp.invoices to table.include.list" in problem.fix and "isthmus connectors deploy" in problem.fix
    widened = dataclasses.replace(narrowed, capture=CaptureFilter.of({"table.include.list": "erp\\..*"}, "mariadb"))
    assert load(HEADER + "      issued_at: {from: issued_at, transform: [local_to_utc]}\n",
                systems=reference_with(widened)).target == "isthmus.canonical.Invoice"


def test_the_projects_mappings_read_beside_systems_of_ones_own_say_so_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # a user who set only ISTHMUS_SYSTEMS_DIR got "mappings/contact.yaml:5: 'crm' is not a declared system" about
    # files that are not theirs, and no word of the variable they had not set
    from support.systems import system

    from streams.systems import Systems

    monkeypatch.setenv("ISTHMUS_SYSTEMS_DIR", "/tmp/wawi/systems")
    monkeypatch.delenv("ISTHMUS_MAPPINGS_DIR", raising=False)
    with pytest.raises(MappingLoadError) as caught:
        load_mappings(systems=Systems({"wawi": system("wawi")}, directory=Path("/tmp/wawi/systems")))
    first = caught.value.problems[0]
    assert "ISTHMUS_SYSTEMS_DIR=/tmp/wawi/systems" in first.message and "ISTHMUS_MAPPINGS_DIR" in first.fix
    assert any("is not a declared system" in p.message for p in caught.value.problems[1:])
    monkeypatch.setenv("ISTHMUS_MAPPINGS_DIR", "mappings")  # set: the user chose the folder, no guess is made
    with pytest.raises(MappingLoadError) as chosen:
        load_mappings(Path("mappings"), systems=Systems({"wawi": system("wawi")}, directory=Path("/tmp/wawi/systems")))
    assert "ISTHMUS_SYSTEMS_DIR" not in chosen.value.problems[0].message
