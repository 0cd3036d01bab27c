"""Several origins (``origin: [hub, ledger]``): an entity born in either system is created in the other, ids
link back both ways, nothing echoes, and the two systems making the same key at nearly the same time cause one
``create`` only. On the made-up hub/ledger pair of test_entity_block (tests/flows/customers/parties/), with
the hub reporting its parties as live (``active: {const: true}``) so that it can be told to end one.

The near-simultaneous case, documented: the flow sees one row first and sends ``create`` to the other system;
the other system's own row then arrives, links the entity and settles the creation, so no ``create`` goes
back. The one in flight meets the row already there in the target: a target with an external id finds it and
updates it (Tryton's party code), one with a unique key refuses it (the reference CRM's 409 on a taken customer
number, a ``refusals`` answer). One row in each system either way.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from customer_events import Sent
from test_entity_block import HERE, Parties, _catalogs, _debtor, _party, _systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import EntityConfig, entity_config
from streams.flows.exceptions import FlowFileError
from streams.flows.files import load_flow_files
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Systems

pytestmark = pytest.mark.unit

SINGLE = (HERE / "flows" / "parties.yaml").read_text(encoding="utf-8")
#: The made-up flow with both systems as origins; the hub has its id in the link and may be told to end a party.
BOTH = (SINGLE.replace("  origin: hub\n", "  origin: [hub, ledger]\n")
        .replace("    hub:\n      observes:", "    hub:\n      id: crm_customer_id\n      observes:")
        .replace("      writes: [payment_terms]", "      writes: [payment_terms, active]"))


def hub_reports_live(party: str) -> str:
    """The made-up record mapping (mappings/party.yaml's text) with the hub's party reporting ``active``: a hub
    that BOTH writes ``active`` into must map it, or the flow file is refused (the flow could not see it)."""
    hub_fields = "      payment_terms: terms\n    on_delete: {set: {active: false}}\n  ledger_debtor:"
    assert hub_fields in party
    return party.replace(hub_fields, "      payment_terms: terms\n      active: {const: true}\n"
                         "    on_delete: {set: {active: false}}\n  ledger_debtor:")


@pytest.fixture(scope="module")
def twoway(schemas: SchemaStore, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, RecordMapping], Systems]:
    """The made-up mappings, the hub's party reported live (the hub's row is what says a party lives there) and
    a deleted debtor taking its ids off the record (as the Tryton example's party does)."""
    folder = tmp_path_factory.mktemp("twoway") / "mappings"
    shutil.copytree(HERE / "mappings", folder)
    party = folder / "party.yaml"
    text = hub_reports_live(party.read_text(encoding="utf-8"))
    ledger_delete = "      active: {from: live, transform: [bool]}\n    on_delete: {set: {active: false}}"
    assert ledger_delete in text
    party.write_text(text.replace(ledger_delete, ledger_delete.replace(
        "active: false}", "active: false, erp_account_id: null, account_code: null}")), encoding="utf-8")
    systems = _systems()
    return load_mappings(folder, schemas=schemas.schemas, tables=_catalogs(), systems=systems), systems


def _config(text: str, tmp_path: Path, twoway: tuple[dict[str, RecordMapping], Systems],
            schemas: SchemaStore) -> EntityConfig:
    mappings, systems = twoway
    (tmp_path / "parties.yaml").write_text(text, encoding="utf-8")
    (flow,) = load_flow_files(tmp_path)
    return entity_config(flow, mappings, schemas.schemas.named, systems)


@pytest.fixture
def run(tmp_path: Path, twoway: tuple[dict[str, RecordMapping], Systems], schemas: SchemaStore) -> Parties:
    mappings, systems = twoway
    return Parties(_config(BOTH, tmp_path, twoway, schemas), mappings, systems, schemas)


def _routes(sent: list[Sent]) -> list[tuple[str, str, str]]:
    return [(s.topic.rsplit(".", 1)[1], *s.route) for s in sent]


def test_one_origin_stays_as_it_was_and_several_create_in_each_other(
        tmp_path: Path, twoway: tuple[dict[str, RecordMapping], Systems], schemas: SchemaStore) -> None:
    single = _config(SINGLE, tmp_path, twoway, schemas)
    assert single.origins == ("hub",) and single.origin == "hub"
    assert [r.name for r in single.targets] == ["ledger"] and [r.name for r in single.order] == ["ledger", "hub"]
    both = _config(BOTH, tmp_path, twoway, schemas)
    assert both.origins == ("hub", "ledger")
    assert [r.name for r in both.targets] == ["ledger", "hub"] and [r.name for r in both.order] == ["hub", "ledger"]
    assert both.stamped_ids == ("erp_account_id", "crm_customer_id")


@pytest.mark.parametrize(("origin", "message", "fix"), [
    ("[hub, hub]", "hub named more than once", "name each origin once"),
    ("[hub, shelf]", "unknown system 'shelf'", "origin: one of hub, ledger, shop"),
    ("[]", "missing", "origin: [<system>, <system>]"),
    ("{hub: ledger}", "must be a list of text", "origin: <system where entities are born>"),
])
def test_a_bad_origin_list_is_refused_with_line_and_fix(
        origin: str, message: str, fix: str, tmp_path: Path, twoway: tuple[dict[str, RecordMapping], Systems],
        schemas: SchemaStore) -> None:
    text = BOTH.replace("  origin: [hub, ledger]\n", f"  origin: {origin}\n")
    with pytest.raises(FlowFileError) as raised:
        _config(text, tmp_path, twoway, schemas)
    (problem,) = [p for p in raised.value.problems if p.field == "entity.origin"]
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("  origin:"))
    assert (problem.line, problem.message) == (line, message) and fix in problem.fix


def test_an_origin_that_gets_create_needs_its_id_and_on_inactive_is_checked(
        tmp_path: Path, twoway: tuple[dict[str, RecordMapping], Systems], schemas: SchemaStore) -> None:
    text = (BOTH.replace("      id: crm_customer_id\n", "")
            .replace("      writes: [payment_terms, active]", "      writes: [payment_terms, active]\n"
                                                               "      on_inactive: shred"))
    with pytest.raises(FlowFileError) as raised:
        _config(text, tmp_path, twoway, schemas)
    problems = {p.field: p for p in raised.value.problems}
    assert problems["entity.systems.hub.id"].message == "missing" and "crm_customer_id" in problems[
        "entity.systems.hub.id"].fix
    assert "'shred' is not one of deactivate, ignore" in problems["entity.systems.hub.on_inactive"].message


def test_a_debtor_born_in_the_ledger_becomes_a_hub_party_linked_both_ways_without_echo(run: Parties) -> None:
    (create,) = run.change("ledger", "debtor", "c", after=_debtor())
    assert _routes([create]) == [("hub", "Customer", "create")]
    assert {k: create.payload[k] for k in ("customer_number", "name", "erp_account_id", "payment_terms")} == {
        "customer_number": "P-000001", "name": "Acme", "erp_account_id": 500, "payment_terms": "NET30"}
    assert run.published()["crm_customer_id"] is None
    # the hub's row made by that create: the ledger's id and terms it stores are echoes, nothing goes anywhere
    assert run.change("hub", "party", "c", after=_party(ledger_ref=500, terms="NET30")) == []
    assert (run.published()["crm_customer_id"], run.published()["erp_account_id"]) == (10, 500)
    # edits go both ways, only the changed field, and their echoes stop
    (rename,) = run.change("hub", "party", "u", before=_party(ledger_ref=500, terms="NET30"),
                           after=_party(ledger_ref=500, terms="NET30", display_name="Acme Ltd"))
    assert (_routes([rename]), rename.changed) == ([("ledger", "Account", "update")], ("name",))
    assert run.change("ledger", "debtor", "u", before=_debtor(), after=_debtor(title="Acme Ltd")) == []
    (terms,) = run.change("ledger", "debtor", "u", before=_debtor(title="Acme Ltd"),
                          after=_debtor(title="Acme Ltd", terms="NET60"))
    assert (_routes([terms]), terms.changed) == ([("hub", "Customer", "update")], ("payment_terms",))
    assert run.change("hub", "party", "u", before=_party(ledger_ref=500, terms="NET30", display_name="Acme Ltd"),
                      after=_party(ledger_ref=500, terms="NET60", display_name="Acme Ltd")) == []


def test_a_party_born_in_the_hub_is_created_in_the_ledger_only(run: Parties) -> None:
    (create,) = run.change("hub", "party", "c", after=_party())
    assert _routes([create]) == [("ledger", "Account", "create")]
    # the debtor made by it: the hub gets the link back and the ledger's terms, never a create
    sent = run.change("ledger", "debtor", "c", after=_debtor())
    assert _routes(sent) == [("hub", "CustomerAccountXref", "update"), ("hub", "Customer", "update")]
    assert run.change("hub", "party", "u", before=_party(), after=_party(ledger_ref=500, terms="NET30")) == []


@pytest.mark.parametrize("first", ["hub", "ledger"])
def test_both_systems_making_the_same_key_at_once_cause_one_create(run: Parties, first: str) -> None:
    """Each system's user makes the party before either sees the other's: the first row seen sends ``create``
    to the other system; the other's own row links it, so no ``create`` goes back (see the module docstring
    for what the target does with the one in flight)."""
    debtor_row = _debtor()
    rows = {"hub": ("party", _party(terms="NET30")), "ledger": ("debtor", debtor_row)}
    creates = {"hub": ("hub", "Customer", "create"), "ledger": ("ledger", "Account", "create")}
    second = "ledger" if first == "hub" else "hub"
    table, row = rows[first]
    assert _routes(run.change(first, table, "c", after=row)) == [creates[second]]
    table, row = rows[second]
    then = run.change(second, table, "c", after=row)
    assert all(s.route[1] != "create" for s in then), _routes(then)
    published = run.published()
    assert (published["crm_customer_id"], published["erp_account_id"]) == (10, 500)
    # the in-flight create was answered by the row already there (found and updated, or refused): later edits
    # in either system go to the other as updates, still no create
    later = run.change("ledger", "debtor", "u", before=debtor_row, after=_debtor(title="Acme Group"))
    assert [s.route[1] for s in later] in (["update"], [])
    assert not any(s.route[1] == "create" for s in later)


def test_a_debtor_deleted_in_the_ledger_ends_the_party_in_the_hub(run: Parties) -> None:
    """``active`` is latest-commit-wins and a ledger delete sets it false: the delete wins, so the hub gets
    ``deactivate``; the ledger, whose row is gone, gets nothing and no ``create``."""
    run.change("ledger", "debtor", "c", after=_debtor())
    run.change("hub", "party", "c", after=_party(ledger_ref=500, terms="NET30"))
    (end,) = run.change("ledger", "debtor", "d", before=_debtor())
    assert (_routes([end]), end.changed) == ([("hub", "Customer", "deactivate")], ("active",))
    assert run.published()["active"] is False
    # the hub deletes the party: nothing more; a party made in the hub again is born anew there
    assert run.change("hub", "party", "d", before=_party(ledger_ref=500, terms="NET30")) == []
    sent = run.change("hub", "party", "c", after=_party(party_id=11, display_name="Acme Again"))
    # (the ledger-owned terms the record kept go to the new hub row, which has none)
    assert _routes(sent) == [("hub", "Customer", "update"), ("ledger", "Account", "create")]
    assert sent[1].payload["name"] == "Acme Again" and sent[1].payload["account_id"] is None


def test_a_system_may_ignore_the_end_another_origin_decided(
        tmp_path: Path, twoway: tuple[dict[str, RecordMapping], Systems], schemas: SchemaStore) -> None:
    mappings, systems = twoway
    text = BOTH.replace("      writes: [payment_terms, active]", "      writes: [payment_terms, active]\n"
                                                                 "      on_inactive: ignore")
    run = Parties(_config(text, tmp_path, twoway, schemas), mappings, systems, schemas)
    run.change("ledger", "debtor", "c", after=_debtor())
    run.change("hub", "party", "c", after=_party(ledger_ref=500, terms="NET30"))
    assert run.change("ledger", "debtor", "d", before=_debtor()) == []
    assert run.published()["active"] is False
