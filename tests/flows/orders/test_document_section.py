"""The document block's section (flows/<x>.yaml ``document:``): the reference file reads into its roles, and
every mistake is named with its line, field and fix; a mapping file the folder lacks makes the flow
unavailable."""

from __future__ import annotations

from pathlib import Path

import pytest
from order_harness import orders_flow_file
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.exceptions import FlowFileError, FlowUnavailable
from streams.flows.files import load_flow_files
from streams.flows.orders import DocumentConfig
from streams.mapping import RecordMapping

pytestmark = pytest.mark.unit


def _read(tmp_path: Path, text: str, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> DocumentConfig:
    reference = orders_flow_file().path.read_text(encoding="utf-8")
    (tmp_path / "orders.yaml").write_text(text or reference, encoding="utf-8")
    (flow,) = load_flow_files(tmp_path, env={})
    return DocumentConfig.read(flow, mappings, reference_systems(), schemas.schemas.named)


def _problems(tmp_path: Path, text: str, mappings: dict[str, RecordMapping],
              schemas: SchemaStore) -> dict[str, tuple[int, str, str]]:
    with pytest.raises(FlowFileError) as raised:
        _read(tmp_path, text, mappings, schemas)
    return {p.field: (p.line, p.message, p.fix) for p in reversed(raised.value.problems)}  # the first per field


def test_the_reference_section_names_its_roles(tmp_path: Path, mappings: dict[str, RecordMapping],
                                               schemas: SchemaStore) -> None:
    config = _read(tmp_path, "", mappings, schemas)
    assert (config.origin_system, config.target_system) == ("crm", "erp")
    assert (config.origin.table, config.lines_source.table, config.target.table) == (
        "sales_orders", "sales_order_lines", "sales_orders")
    assert config.line_ref.by == "crm_order_id" and config.party.ref.by == "crm_customer_id"
    assert [s.name for s in config.balance.sources] == ["erp_invoiced", "erp_paid"]
    assert config.origin_status == "status" and config.party.held == "on_hold"


def test_bad_keys_sources_fields_and_statuses_are_named_with_line_and_fix(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    text = orders_flow_file().path.read_text(encoding="utf-8")
    text = (text.replace("origin: crm_sales_orders", "origin: crm_orders")
                .replace("link: erp_order_id ", "link: erp_order_ref")
                .replace("  send: [submitted]", "  send: [submitted]\n  colour: blue"))
    found = _problems(tmp_path, text, mappings, schemas)
    line, message, fix = found["document.origin"]
    assert text.splitlines()[line - 1].strip().startswith("origin: crm_orders")
    assert "no table source 'crm_orders'" in message and "crm_sales_orders" in fix
    assert "'erp_order_ref' is not written back" in found["document.link"][1]
    assert found["document.colour"][1] == "unknown key" and "write_back" in found["document.colour"][2]


def test_party_and_balance_fields_are_checked_against_the_party_mapping(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    text = (orders_flow_file().path.read_text(encoding="utf-8")
            .replace("blocked: blocked ", "blocked: frozen  ")
            .replace("sources: [erp_invoiced, erp_paid]", "sources: [erp_invoiced, crm_customers]"))
    found = _problems(tmp_path, text, mappings, schemas)
    assert "erp_accounts does not bind 'frozen'" in found["document.party.blocked"][1]
    assert "crm_customers does not sum 'open_balance'" in found["document.balance.sources"][1]


def test_a_party_source_of_the_wrong_system_is_refused(tmp_path: Path, mappings: dict[str, RecordMapping],
                                                      schemas: SchemaStore) -> None:
    text = orders_flow_file().path.read_text(encoding="utf-8").replace("target: erp_accounts", "target: crm_customers")
    found = _problems(tmp_path, text, mappings, schemas)
    assert "crm_customers reads crm, the document's target is erp" in found["document.party.target"][1]


def test_a_missing_mapping_file_makes_the_flow_unavailable(tmp_path: Path, mappings: dict[str, RecordMapping],
                                                           schemas: SchemaStore) -> None:
    fewer = {k: v for k, v in mappings.items() if k != "sales_order_line"}
    with pytest.raises(FlowUnavailable, match=r"sales_order_line\.yaml \(orders\.yaml:\d+ document\.lines\)"):
        _read(tmp_path, "", fewer, schemas)


def _without(part: str) -> str:
    """The reference orders.yaml without its ``part:`` section."""
    lines = orders_flow_file().path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(n for n, line in enumerate(lines) if line.startswith(part))
    indent = len(part) - len(part.lstrip()) + 2
    end = next((n for n in range(start + 1, len(lines)) if not lines[n].startswith(" " * indent)), len(lines))
    return "".join(lines[:start] + lines[end:])


def test_a_missing_party_is_a_problem_with_its_fix_not_a_crash(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    problems = _problems(tmp_path, _without("  party:"), mappings, schemas)
    _, message, fix = problems["document.party"]
    assert message == "missing" and fix == "add `party:` with its keys"


def test_a_target_without_balances_or_blocking_leaves_them_out(
        tmp_path: Path, mappings: dict[str, RecordMapping], schemas: SchemaStore) -> None:
    """A new user's document flow for a target without invoices left `balance:` out (once an AssertionError,
    then a problem asking for an invented one): no balance is kept; without `blocked`/`held` none is blocked."""
    config = _read(tmp_path, _without("  balance:"), mappings, schemas)
    assert config.balance is None and config.balance_sources == ()
    text = _without("  balance:").replace("    blocked: blocked", "    #").replace("    held: on_hold", "    #")
    text = text.replace("release: [active, blocked]", "release: [active]")
    config = _read(tmp_path, text, mappings, schemas)
    assert (config.party.blocked, config.party.held, config.hold.status) == ("", "", "on_hold")


def test_update_names_the_target_statuses_that_take_an_edit(tmp_path: Path, mappings: dict[str, RecordMapping],
                                                            schemas: SchemaStore) -> None:
    assert _read(tmp_path, "", mappings, schemas).update_while == ("reserved",)
    text = orders_flow_file().path.read_text(encoding="utf-8").replace("  update: {while: [reserved]}\n", "")
    assert _read(tmp_path, text, mappings, schemas).update_while == ()  # left out: no edit is sent


@pytest.mark.parametrize(("update", "field", "message", "fix"), [
    ("update: {}", "document.update.while", "missing", "`while: [<target status>, ...]`"),
    ("update: {while: []}", "document.update.while", "names no status", "e.g. `while: [reserved]`"),
    ("update: {while: [{a: 1}]}", "document.update.while", "must be a list of text", "leave `update:` out"),
    ("update: {while: [reserved], when: [shipped]}", "document.update.when", "unknown key", "use while"),
    ("update: {while: [reserved, cancelled]}", "document.update.while",
     "'cancelled' is the cancel status: a cancelled document takes no edit", "take cancelled out of `while`"),
    ("update: [reserved]", "document.update", "must be a mapping", "write `update:` followed by its keys"),
])
def test_a_bad_update_is_named_with_its_line_and_fix(tmp_path: Path, mappings: dict[str, RecordMapping],
                                                     schemas: SchemaStore, update: str, field: str, message: str,
                                                     fix: str) -> None:
    text = orders_flow_file().path.read_text(encoding="utf-8").replace("update: {while: [reserved]}", update)
    line, found, how = _problems(tmp_path, text, mappings, schemas)[field]
    assert text.splitlines()[line - 1].strip() == update
    assert found == message and fix in how
