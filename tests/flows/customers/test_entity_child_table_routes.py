"""A new user's trial, made up: a ``shop``'s offers and their lines synced into a ``books`` database by the SQL
adapter, with an ``entity`` flow, the lines meant for a child table of ``books`` (a route's ``children: {from:
lines}``). The flow refuses ``writes: [.., lines]`` (``books`` keeps no column with the whole list), and with the
lines left out of ``writes`` the commands it sends never carry them: validation passed, and the sink dead-lettered
every offer (``NoLines``, "send the lines"). Run through LocalRun with the real handler, the create leaves the lines
out and the sink refuses it, saying what to check; checked at load against the target file as the sinks load it,
each route whose children no command feeds is named, with the flow file's line and the block that does it (a
``document`` flow)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from made_up_run import MadeUpRun, MadeUpTable, made_up_flow

from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.config_files.problem import Problem
from streams.flows.customers import CustomerFlow
from streams.flows.engine.api import FlowSpec
from streams.flows.exceptions import FlowFileError
from streams.flows.files import load_flow_files
from streams.flows.routes import unrouted
from streams.sinks.adapters.sql import prepare
from streams.sinks.config.loader import load_target
from streams.sinks.outcomes import Failed
from streams.sinks.records import decode_command
from streams.systems import Engine

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)

SCHEMAS = {
    "offer_line": {
        "type": "record", "name": "OfferLine", "namespace": "trial", "doc": "A line of an offer.",
        "fields": [
            {"name": "id", "type": "long", "doc": "Its id in the shop."},
            {"name": "pos", "type": "int", "doc": "Position."},
            {"name": "sku", "type": "string", "doc": "Article."},
            {"name": "qty", "type": "int", "doc": "Quantity."}]},
    "offer": {
        "type": "record", "name": "Offer", "namespace": "trial", "doc": "An offer.",
        "fields": [
            {"name": "offer_no", "type": "string", "doc": "Key."},
            {"name": "customer", "type": ["null", "string"], "default": None, "doc": "Customer."},
            {"name": "lines", "type": {"type": "array", "items": "OfferLine"}, "default": [], "doc": "Lines."},
            {"name": "provenance", "type": {"type": "map", "values": "isthmus.canonical.FieldStamp"},
             "default": {}, "doc": "Per field: system and commit time."}]},
    "offer_link": {
        "type": "record", "name": "OfferLink", "namespace": "trial", "doc": "Ids of an offer.",
        "fields": [
            {"name": "offer_no", "type": "string", "doc": "Key."},
            {"name": "shop_id", "type": ["null", "long"], "default": None, "doc": "shop id."},
            {"name": "books_id", "type": ["null", "long"], "default": None, "doc": "books id."}]},
}
MAPPINGS = {
    "offer": """\
description: An offer, born in the shop.
target: trial.Offer
key: offer_no
owner: shop
policy: owner_wins
sources:
  shop_offer:
    system: shop
    table: offer
    fields: {offer_no: offer_no, customer: customer}
  books_quote:
    system: books
    table: quote
    fields: {offer_no: offer_no, customer: customer}
""",
    "offer_line": """\
description: A line of an offer.
target: trial.OfferLine
key: id
parent: {record: Offer, field: lines, key: offer_no}
owner: shop
policy: owner_wins
sources:
  shop_offer_line:
    system: shop
    table: offer_line
    parent_key: offer_no
    fields: {id: id, pos: pos, sku: sku, qty: qty}
""",
    "offer_link": """\
description: The ids of an offer.
target: trial.OfferLink
key: offer_no
fields:
  shop_id: {owner: shop, policy: owner_wins}
  books_id: {owner: books, policy: owner_wins}
sources:
  shop_offer:
    system: shop
    table: offer
    fields: {offer_no: offer_no, shop_id: id}
    on_delete: {set: {shop_id: null}}
  books_quote:
    system: books
    table: quote
    fields: {offer_no: offer_no, books_id: id}
    on_delete: {set: {books_id: null}}
""",
}
#: The trial's flow file once the refused `lines` was taken out of `writes`, as the refusal said.
FLOW = """\
name: trial-offers
block: entity
description: shop offers -> books, with their lines
entity:
  record: offer
  publish: trial.canonical.offers
  link: offer_link
  children: [offer_line]
  origin: shop
  systems:
    books: {id: books_id, writes: [customer]}
"""
CHILDREN = ("    children: [{table: books.quote_line, from: lines, parent_key: {offer_no: offer_no}, key: [offer_no, "
            "pos], columns: {pos: pos, sku: sku, qty: qty}}]\n")
BOOKS = f"""\
system: books
adapter: sql
sql: {{database: books}}
routes:
  - payload_type: Offer
    operation: create
    action: upsert
    table: books.quote
    key: [offer_no]
    columns: {{offer_no: offer_no, customer: customer}}
{CHILDREN}\
  - payload_type: Offer
    operation: update
    action: update
    table: books.quote
    key: [offer_no]
    columns: {{offer_no: offer_no, customer: customer}}
{CHILDREN}"""

#: Each made-up table: column -> (SQL type, Connect type), its key, its system.
TABLES = {
    "offer": MadeUpTable(system="shop", engine=Engine.POSTGRESQL, namespace="shop", key=("id",), columns={
        "id": ("BIGINT", "int64"), "offer_no": ("TEXT", "string"), "customer": ("TEXT", "string")}),
    "offer_line": MadeUpTable(system="shop", engine=Engine.POSTGRESQL, namespace="shop", key=("id",), columns={
        "id": ("BIGINT", "int64"), "offer_no": ("TEXT", "string"), "pos": ("INTEGER", "int32"),
        "sku": ("TEXT", "string"), "qty": ("INTEGER", "int32")}),
    "quote": MadeUpTable(system="books", engine=Engine.POSTGRESQL, namespace="books", key=("id",), columns={
        "id": ("BIGINT", "int64"), "offer_no": ("TEXT", "string"), "customer": ("TEXT", "string")}),
}


@pytest.fixture(scope="module")
def offer_schemas(tmp_path_factory: pytest.TempPathFactory) -> SchemaStore:
    folder = tmp_path_factory.mktemp("offer-schemas")
    for stem, schema in SCHEMAS.items():
        (folder / f"{stem}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(folder)}))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for folder, files in {"mappings": MAPPINGS, "flows": {"offers": FLOW}, "targets": {"books": BOOKS}}.items():
        (tmp_path / folder).mkdir()
        for stem, text in files.items():
            (tmp_path / folder / f"{stem}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


class Offers(MadeUpRun):
    """The flow under LocalRun, fed made-up Debezium changes of ``shop`` and ``books``."""

    def __init__(self, project: Path, schemas: SchemaStore) -> None:
        mappings, systems, config = made_up_flow(schemas, project, TABLES, required=("offer_no", "pos", "sku", "qty"))
        super().__init__(schemas, systems, CustomerFlow(mappings=mappings, schemas=schemas, systems=systems,
                                                        config=config, clock=lambda: self.now),
                         start=T0, published_to="trial.canonical.offers")

    def table(self, name: str) -> MadeUpTable:
        return TABLES[name]

    def insert(self, table: str, row: dict[str, Any]) -> list[bytes]:
        """Feed one insert; returns the commands it caused, as the sinks read them."""
        start = len(self.run.context.emitted)
        self.feed(self.change(table, "c", after=row))
        assert self.dead_letters == [], self.dead_letters[0].reason
        return [out.value for out in self.run.context.emitted[start:]
                if out.topic.startswith("isthmus.commands.") and out.value is not None]


def _problems(project: Path, spec: FlowSpec, schemas: SchemaStore, books: str = BOOKS) -> list[Problem]:
    """What ``isthmus mappings validate`` checks of the routes: the flow against the target file, as its sink
    loads it."""
    (project / "targets" / "books.yaml").write_text(books, encoding="utf-8")
    targets = {"books": load_target(project / "targets" / "books.yaml", schemas.schemas, ("books",))}
    return unrouted([spec], targets, {f.name: f for f in load_flow_files(project / "flows")})


def test_a_child_table_route_the_entity_flow_never_feeds_is_refused_at_load(
        project: Path, offer_schemas: SchemaStore) -> None:
    run = Offers(project, offer_schemas)
    assert run.insert("offer_line", {"id": 7, "offer_no": "A-1", "pos": 1, "sku": "X", "qty": 2}) == []
    (sent,) = run.insert("offer", {"id": 1, "offer_no": "A-1", "customer": "Kunde"})
    command = decode_command(offer_schemas, sent)
    assert (command.payload_type, command.operation) == ("trial.Offer", "create")
    assert "lines" not in command.payload, "books writes no lines: the payload leaves them out"
    # at run time the sink refuses it, and says what to check rather than "send the lines"
    config = load_target(project / "targets" / "books.yaml", offer_schemas.schemas, ("books",))
    failed = prepare(config, command)
    assert isinstance(failed, Failed) and failed.error_type == "NoLines", failed
    assert "the sending flow" in failed.reason and "`writes`" in failed.reason, failed.reason
    assert "isthmus mappings validate" in failed.reason, failed.reason

    # at load: each route whose children the commands never feed, at the child's line, with the flow's line
    create, update = _problems(project, run.flow.spec(), offer_schemas)
    lines = BOOKS.splitlines()
    children = [n for n, line in enumerate(lines, 1) if line.startswith("    children:")]
    assert [(p.file.name, p.line, p.field) for p in (create, update)] == [
        ("books.yaml", children[0], "routes[0].children[0].from"),
        ("books.yaml", children[1], "routes[1].children[0].from")]
    systems_line = FLOW.splitlines().index("    books: {id: books_id, writes: [customer]}") + 1
    text = str(create)
    assert ("children books.quote_line takes its rows from the payload's lines, but the Offer create commands that "
            f"flow trial-offers (flows/offers.yaml:{systems_line}, entity.systems.books) sends to books for an "
            "entity born in shop never carry lines: the sink would dead-letter every such command (NoLines)"
            ) in text.replace(str(project) + "/", ""), text
    assert "a `document` flow (flows/README.md, \"## document\")" in create.fix, create.fix
    assert "`writes` list it (one it reads: for a column that keeps the whole list" in create.fix, create.fix
    assert "Offer update commands" in str(update) and "a change of customer" in str(update)


def test_the_same_route_without_children_passes(project: Path, offer_schemas: SchemaStore) -> None:
    spec = Offers(project, offer_schemas).flow.spec()
    assert _problems(project, spec, offer_schemas, BOOKS.replace(CHILDREN, "")) == []


def test_lines_in_writes_are_refused_pointing_to_the_document_block(project: Path, offer_schemas: SchemaStore) -> None:
    """The trial's first try: `lines` in books' writes, books having no column that keeps the list."""
    (project / "flows" / "offers.yaml").write_text(
        FLOW.replace("writes: [customer]", "writes: [customer, lines]"), encoding="utf-8")
    with pytest.raises(FlowFileError) as raised:
        Offers(project, offer_schemas)
    (problem,) = raised.value.problems
    assert (problem.file.name, problem.line, problem.field) == ("offers.yaml", 11, "entity.systems.books.writes")
    assert problem.message.startswith("lists lines, the list of offer_line children, but no source of books in "
                                      "mappings/offer.yaml maps it back"), problem.message
    assert problem.fix.startswith("an entity flow writes a child list into a system it reads only into a column "
                                  "that keeps the whole list: map it back in a source of books from that column"), \
        problem.fix
    assert ("if books keeps the offer_line rows in a child table of its own, the record and its lines are a "
            "document: sync them into books with a `document` flow instead (flows/README.md, \"## document\")"
            ) in problem.fix, problem.fix
