"""A new user's trial, made up (tests/flows/customers/parties/: a ``hub`` whose parties are born there, a
``ledger`` whose debtors the flow creates): the hub's target file had no route for the link back the flow sends it
(``CustomerAccountXref update``), validation passed, and every such command was dead-lettered at run time
(``NoRoute``). Run through LocalRun with the real handler, the flow sends that command; checked at load against the
target files as the sinks load them, the missing route is named with the flow file's line and the route to add."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_entity_block import HERE, Parties, _catalogs, _debtor, _party, _systems

from streams.codecs.avro.single_object import SchemaStore
from streams.config_files.problem import Problem
from streams.flows.customers import entity_config
from streams.flows.engine.api import FlowSpec
from streams.flows.files import load_flow_files
from streams.flows.routes import unlinked_routes, unrouted, unsent_clears
from streams.mapping import load_mappings
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import TargetConfig

pytestmark = pytest.mark.unit

LEDGER = """\
system: ledger
adapter: http
routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /debtors
    body: payload
  - payload_type: Account
    operation: update
    method: PATCH
    path: /debtors/{account_code}
    body: payload
  - payload_type: Account
    operation: deactivate
    method: DELETE
    path: /debtors/{account_code}
"""
HUB = """\
system: hub
adapter: http
routes:
  - payload_type: Customer
    operation: update
    method: PATCH
    path: /parties/{customer_number}
    body: {terms: payment_terms}
"""
LINK_ROUTE = """\
  - payload_type: CustomerAccountXref
    operation: update
    method: PATCH
    path: /parties/{customer_number}
    body: {ledger_ref: erp_account_id}
"""
#: The hub as a database the sink writes rows into (no API): one table, an upsert by key, for both kinds.
HUB_SQL = """\
system: hub
adapter: sql
sql: {database: hub}
routes:
  - payload_type: Customer
    operation: update
    table: main.party
    key: [code]
    columns: {code: customer_number, terms: payment_terms}
  - payload_type: CustomerAccountXref
    operation: update
    action: upsert
    table: main.party
    key: [code]
    columns: {code: customer_number, ledger_ref: erp_account_id}
"""


@pytest.fixture(scope="module")
def spec(schemas: SchemaStore) -> FlowSpec:
    """The made-up flow, run first through the link back: the command the check speaks of is one it sends."""
    systems = _systems()
    mappings = load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=systems)
    (flow,) = load_flow_files(HERE / "flows")
    run = Parties(entity_config(flow, mappings, schemas.schemas.named, systems), mappings, systems, schemas)
    run.change("hub", "party", "c", after=_party())
    link, _ = run.change("ledger", "debtor", "c", after=_debtor())
    assert (link.topic, link.route) == ("isthmus.commands.hub", ("CustomerAccountXref", "update"))
    built = run.flow.spec()
    assert ("hub", "isthmus.canonical.CustomerAccountXref", "update") in {
        (s.target, s.payload_type, s.operation) for s in built.sends}
    return built


def _targets(tmp_path: Path, hub: str, ledger: str, schemas: SchemaStore) -> dict[str, TargetConfig]:
    """Target files ``hub`` and ``ledger``, loaded by the sinks' loader."""
    (tmp_path / "hub.yaml").write_text(hub, encoding="utf-8")
    (tmp_path / "ledger.yaml").write_text(ledger, encoding="utf-8")
    return {name: load_target(tmp_path / f"{name}.yaml", schemas.schemas, ("hub", "ledger"))
            for name in ("hub", "ledger")}


def _unrouted(tmp_path: Path, hub: str, spec: FlowSpec, schemas: SchemaStore) -> list[Problem]:
    """The problems of the made-up flow against target files ``hub`` and :data:`LEDGER`."""
    return unrouted([spec], _targets(tmp_path, hub, LEDGER, schemas),
                    {f.name: f for f in load_flow_files(HERE / "flows")})


def test_a_link_back_the_target_file_has_no_route_for_is_refused_at_load(
        tmp_path: Path, spec: FlowSpec, schemas: SchemaStore) -> None:
    (problem,) = _unrouted(tmp_path, HUB, spec, schemas)
    flow = (HERE / "flows" / "parties.yaml").read_text(encoding="utf-8").splitlines()
    observes = next(n for n, line in enumerate(flow, 1) if line.strip().startswith("observes:"))
    assert (problem.file, problem.line, problem.field) == (tmp_path / "hub.yaml", 3, "routes")
    text = str(problem)
    assert "no route for CustomerAccountXref update, which flow test-parties" in text, text
    assert f"parties.yaml:{observes}, entity.systems.hub.observes) sends to hub" in text, text
    assert "the link back of erp_account_id" in text and "(NoRoute)" in text, text
    assert (f"fix: add a route with `payload_type: CustomerAccountXref` and `operation: update` to "
            f"{tmp_path / 'hub.yaml'} (see targets/README.md, \"Routes\")") in text, text


def test_the_route_added_passes(tmp_path: Path, spec: FlowSpec, schemas: SchemaStore) -> None:
    assert _unrouted(tmp_path, HUB + LINK_ROUTE, spec, schemas) == []


def test_a_sql_target_whose_routes_upsert_rows_passes(tmp_path: Path, spec: FlowSpec, schemas: SchemaStore) -> None:
    assert _unrouted(tmp_path, HUB_SQL, spec, schemas) == []
    # without the link's route, the sql target is refused the same way: the sink finds routes alike for every adapter
    (problem,) = _unrouted(tmp_path, HUB_SQL.split("  - payload_type: CustomerAccountXref")[0], spec, schemas)
    assert "no route for CustomerAccountXref update" in str(problem)


def test_a_route_addressed_by_the_id_of_a_record_the_flow_creates_there_is_warned_of(
        tmp_path: Path, spec: FlowSpec, schemas: SchemaStore) -> None:
    """A new user's target addressed its update and delete by the target's own id (`PATCH /debtors/{account_id}`)
    with no lookup: a change made right after an entity was born was decided before the ledger's row came back,
    carried null there and was dead-lettered (a quarter of a healthy run's commands). It is warned of at load,
    with the route's line and the fix; a lookup for it, or a path by a field every command carries, is not."""
    by_id = LEDGER.replace("path: /debtors/{account_code}", "path: /debtors/{account_id}")
    (tmp_path / "ledger.yaml").write_text(by_id, encoding="utf-8")
    ledger = load_target(tmp_path / "ledger.yaml", schemas.schemas, ("hub", "ledger"))
    files = {f.name: f for f in load_flow_files(HERE / "flows")}
    update, deactivate = unlinked_routes([spec], {"ledger": ledger}, files)
    assert update.startswith(f"{tmp_path / 'ledger.yaml'}:9: route Account update (PATCH /debtors/{{account_id}}) is "
                             "addressed by {account_id}, ledger's own id of the record, which flow test-parties (")
    assert "carries null there: the sink fills it with the id the create was answered with" in update
    assert "dead-letters it (UnresolvedReference)" in update
    assert "fix: add a lookup that finds account_id by a field every command carries" in update
    assert deactivate.startswith(f"{tmp_path / 'ledger.yaml'}:14: route Account deactivate (DELETE /debtors/"
                                 "{account_id})")

    looked_up = by_id.replace("    path: /debtors/{account_id}\n    body: payload\n",
                              "    path: /debtors/{account_id}\n    body: payload\n    lookups:\n      account_id:\n"
                              "        path: /debtors/by-code/{account_code}\n        take: id\n", 1)
    assert looked_up != by_id
    (tmp_path / "ledger.yaml").write_text(looked_up, encoding="utf-8")
    ledger = load_target(tmp_path / "ledger.yaml", schemas.schemas, ("hub", "ledger"))
    (left,) = unlinked_routes([spec], {"ledger": ledger}, files)
    assert "route Account deactivate" in left
    (tmp_path / "ledger.yaml").write_text(LEDGER, encoding="utf-8")
    assert unlinked_routes([spec], {"ledger": load_target(tmp_path / "ledger.yaml", schemas.schemas,
                                                          ("hub", "ledger"))}, files) == []


def _unsent(tmp_path: Path, hub: str, ledger: str, spec: FlowSpec, schemas: SchemaStore) -> list[Problem]:
    """The routes of target files ``hub`` and ``ledger`` that cannot send a null the made-up flow clears there."""
    return unsent_clears([spec], _targets(tmp_path, hub, ledger, schemas),
                         {f.name: f for f in load_flow_files(HERE / "flows")})


def test_a_route_that_cannot_send_the_null_of_a_field_the_flow_clears_is_refused_at_load(
        tmp_path: Path, spec: FlowSpec, schemas: SchemaStore) -> None:
    """A new user's update route read e-mail without `keep_null`: validation passed, and each e-mail cleared in the
    source was dead-lettered by the sink (NullNotSent) while the target kept the old one. It is found at load: the
    hub's `terms` (payment_terms, nullable, in its writes) and the ledger's `body: payload` (e-mail, nullable; not
    the name, which the record never holds null), each at its line, with both fixes."""
    ledger, hub = _unsent(tmp_path, HUB + LINK_ROUTE, LEDGER, spec, schemas)
    assert (hub.file, hub.line, hub.field) == (tmp_path / "hub.yaml", 8, "routes[0].body.terms")
    text = str(hub)
    assert "route Customer update cannot send a null of payment_terms, which flow test-parties" in text, text
    assert "entity.systems.hub.writes) clears in hub" in text and "(NullNotSent)" in text, text
    assert "fix: send the null in the route's body ({from: payment_terms, keep_null: true}" in text, text
    assert "systems.hub.cannot_clear" in text, text
    assert (ledger.file, ledger.line, ledger.field) == (tmp_path / "ledger.yaml", 13, "routes[1].body")
    assert "route Account update cannot send a null of email, which" in str(ledger), str(ledger)


def test_a_route_that_sends_the_nulls_passes(tmp_path: Path, spec: FlowSpec, schemas: SchemaStore) -> None:
    hub = (HUB + LINK_ROUTE).replace("body: {terms: payment_terms}",
                                     "body: {terms: {from: payment_terms, keep_null: true}}")
    ledger = LEDGER.replace("    path: /debtors/{account_code}\n    body: payload\n",
                            "    path: /debtors/{account_code}\n"
                            "    body: {name: name, email: {from: email, keep_null: true}}\n")
    assert ledger != LEDGER
    assert _unsent(tmp_path, hub, ledger, spec, schemas) == []
