"""The ``entity:`` section of a flow file: every problem with its line, field and fix; a missing mapping file
makes the flow unavailable rather than wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import entity_config
from streams.flows.exceptions import FlowFileError, FlowUnavailable
from streams.flows.files import FLOWS_DIR, load_flow_files
from streams.mapping import RecordMapping

pytestmark = pytest.mark.unit
REFERENCE = (FLOWS_DIR / "customers.yaml").read_text(encoding="utf-8")


def _load(tmp_path: Path, text: str, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    (tmp_path / "customers.yaml").write_text(text, encoding="utf-8")
    (flow,) = load_flow_files(tmp_path)
    entity_config(flow, mappings, schemas.schemas.named, reference_systems())


def _line(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_the_reference_section_loads(tmp_path: Path, mappings: dict[str, RecordMapping],
                                     schemas: SchemaStore) -> None:
    _load(tmp_path, REFERENCE, mappings, schemas)


def test_unknown_keys_fields_and_systems_are_problems_with_line_and_fix(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    text = (REFERENCE.replace("  origin: crm", "  origin: shop\n  colour: blue")
            .replace("  active: active", "  active: alive")
            .replace("        - phone\n", "        - fax\n")
            .replace("      id: erp_account_id", "      id: ledger_no")
            .replace("    crm:\n", "    billing:\n      writes: [name]\n    crm:\n"))
    with pytest.raises(FlowFileError) as raised:
        _load(tmp_path, text, mappings, schemas)
    problems = {p.field: p for p in raised.value.problems}
    assert problems["entity.origin"].line == _line(text, "origin: shop") and "crm, erp" in problems[
        "entity.origin"].fix
    assert problems["entity.colour"].message == "unknown key" and "record, publish" in problems["entity.colour"].fix
    assert "'alive' is not a field of isthmus.canonical.Customer" in problems["entity.active"].message
    writes = [p for p in raised.value.problems if p.field == "entity.systems.erp.writes"]
    assert _line(text, "- fax") in [p.line for p in writes]
    assert any(p.message.startswith("leaves out phone") for p in writes), "phone, which the CRM can win, left out"
    assert problems["entity.systems.erp.id"].line == _line(text, "id: ledger_no")
    assert "erp_account_id" in problems["entity.systems.erp.id"].fix
    assert problems["entity.systems.billing"].message == "unknown system 'billing'"
    assert all(p.file.name == "customers.yaml" for p in raised.value.problems)


def test_a_child_that_is_not_the_records_and_a_bad_policy_are_refused(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    text = REFERENCE.replace("children: [contact]", "children: [sales_order_line]").replace(
        "on_inactive: deactivate", "on_inactive: shred")
    with pytest.raises(FlowFileError) as raised:
        _load(tmp_path, text, mappings, schemas)
    problems = {p.field: p for p in raised.value.problems}
    assert "not a child of the record" in problems["entity.children"].message
    assert "deactivate, ignore" in problems["entity.on_inactive"].fix


def test_a_writable_target_without_its_id_is_refused(tmp_path: Path, mappings: dict[str, RecordMapping],
                                                      schemas: SchemaStore) -> None:
    text = REFERENCE.replace("      id: erp_account_id          # the link field", "      # the link field")
    with pytest.raises(FlowFileError, match=r"entity.systems.erp.id: missing"):
        _load(tmp_path, text, mappings, schemas)


def test_a_missing_mapping_file_makes_the_flow_unavailable(tmp_path: Path, mappings: dict[str, RecordMapping],
                                                           schemas: SchemaStore) -> None:
    without = {stem: m for stem, m in mappings.items() if stem != "account"}
    with pytest.raises(FlowUnavailable, match=r"account\.yaml"):
        _load(tmp_path, REFERENCE, without, schemas)


def test_a_grandchild_is_refused_saying_one_level_of_lists_is_kept_and_how_to_flatten_it(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    """A mapping file whose parent is a child of the record (an order line's taxes under the line) is no child of
    the record: the flow says it is a grandchild, which an entity does not build, and how to keep it flat."""
    line = mappings["sales_order_line"]
    assert line.parent is not None
    note = dataclasses.replace(line, parent=dataclasses.replace(line.parent, record="isthmus.canonical.Contact"))
    text = REFERENCE.replace("children: [contact]", "children: [contact, contact_note]")
    with pytest.raises(FlowFileError) as raised:
        _load(tmp_path, text, {**mappings, "contact_note": note}, schemas)
    (problem,) = [p for p in raised.value.problems if p.field == "entity.children"]
    assert problem.line == _line(text, "children: [contact, contact_note]")
    assert problem.message == (
        "mappings/contact_note.yaml is a child of Contact (mappings/contact.yaml), itself a child of Customer: an "
        "entity keeps one level of child lists, a list inside a child's items (grandchildren) is not built")
    assert problem.fix.startswith("keep SalesOrderLine as a list of the record itself: `parent: {record: Customer, "
                                  "field: <a list field of it>, key: <its key>}`")


def test_a_look_up_of_another_record_names_the_mapping_file_source_and_field_and_what_to_do(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    """A source of the flow that looks up a record other than the link (a customer's name for an order) is refused
    at the flow file's `link:`, naming the mapping file, its source and field, and a way that works; before, it
    said only `a source of the flow looks up X` and `fix: an entity flow looks up only its link`."""
    text = REFERENCE.replace("  link: customer_account_xref", "  link: account")
    with pytest.raises(FlowFileError) as raised:
        _load(tmp_path, text, mappings, schemas)
    looks = [p for p in raised.value.problems if p.field == "entity.link" and "looks up" in p.message]
    assert looks and all(p.line == _line(text, "  link: account") for p in looks)
    message = looks[0].message
    assert message.startswith("mappings/contact.yaml:") and "(source crm_contacts, parent_key)" in message
    assert message.endswith(" looks up CustomerAccountXref by crm_customer_id, not the link Account: an entity flow "
                            "joins no other record into its entities (nor sends them again when a "
                            "CustomerAccountXref changes)")
    assert looks[0].fix == ("an entity flow looks up only its link (`lookup: {record: Account, by: <a field of "
                            "it>}`): bind the value from a column of the source's own table, or send its id "
                            "(crm_customer_id) and let the target resolve it")
