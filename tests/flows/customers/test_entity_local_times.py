"""An entity flow flags in the lineage of the record it publishes a source time that a DST change skipped, as the
canonical flow does (mappings/README.md, "Lineage"): here the ERP's zone-less `updated_at`, mapped through
`local_to_utc` with the ERP in Europe/Berlin, at 02:30 on the night the clocks jump to 03:00."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.canonical import Lineage
from streams.flows.customers import CustomerFlow
from streams.mapping import load_mappings

pytestmark = pytest.mark.unit

REPOSITORY = Path(__file__).resolve().parents[3]
NUMBER = "C-420001"


def test_a_skipped_local_time_of_a_change_is_in_its_published_lineage(tmp_path: Path, schemas: SchemaStore) -> None:
    folder = tmp_path / "mappings"
    shutil.copytree(REPOSITORY / "mappings", folder)
    customer = folder / "customer.yaml"
    text = customer.read_text(encoding="utf-8")
    text = text.replace("  open_balance:     {owner: erp, policy: owner_wins}\n",
                        "  open_balance:     {owner: erp, policy: owner_wins}\n"
                        "  updated_at:       {owner: erp, policy: owner_wins}\n", 1)
    text = text.replace("      erp_account_id: account_id\n",
                        "      erp_account_id: account_id\n"
                        "      updated_at: {from: updated_at, transform: [local_to_utc]}\n", 1)
    customer.write_text(text, encoding="utf-8")
    systems = reference_systems("Europe/Berlin")
    harness = Harness(flow=CustomerFlow(mappings=load_mappings(folder, schemas=schemas.schemas, systems=systems),
                                        schemas=schemas, systems=systems, clock=lambda: SETTLED_AT), schemas=schemas)
    harness.feed(harness.systems.crm_create(NUMBER, name="Gap Ltd"))
    harness.settle()
    gap = dt.datetime(2024, 3, 31, 2, 30, tzinfo=dt.UTC)  # Debezium sends a DATETIME "as if UTC"
    harness.feed(harness.systems.erp_edit(NUMBER, updated_at=int(gap.timestamp() * 1_000_000)))
    published = [e for e in harness.emitted if e.topic == "isthmus.canonical.customers"]
    notes = Lineage.from_headers(published[-1].headers).local_times
    assert [(n["field"], n["local"], n["case"]) for n in notes] == [("updated_at", "2024-03-31T02:30:00", "skipped")]
    assert all(Lineage.from_headers(e.headers).local_times == () for e in published[:-1])
