"""ERP rows whose zone-less times fall in a DST overlap and gap reach the canonical topic, on the real stack.

The ERP is declared in Europe/Berlin by a systems folder of this test's own (``ISTHMUS_SYSTEMS_DIR``: the
project's files, with the ERP's ``time_zone`` fixed to a zone with daylight saving time). Rows are written with
raw SQL into MariaDB, read by the real connector, and the canonical flow runs in this process under a name and
topic prefix of its own: each order is published with its time resolved by ``mappings/erp_sales_order.yaml``'s
``local_times:`` policy, and flagged in its ``isthmus-lineage`` header.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from support.flows import RunningFlow
from support.topics import Record, records_to_end
from support.waiting import eventually

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.canonical import CanonicalFlow, Lineage
from streams.flows.context import FlowContext
from streams.stack.running import RunningStack
from streams.systems.loader import SYSTEMS_DIR, SYSTEMS_DIR_ENV

pytestmark = pytest.mark.integration

UTC = dt.UTC
ZONE = "Europe/Berlin"
# 2024-10-27 03:00 CEST -> 02:00 CET (02:30 happened twice); 2024-03-31 02:00 CET -> 03:00 CEST (02:30 never was)
OVERLAP, GAP, ORDINARY = "2024-10-27 02:30:00", "2024-03-31 02:30:00", "2024-10-27 03:30:00"


@pytest.fixture(scope="module")
def systems_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's systems files, the ERP in Berlin and both systems read-only (this flow writes nothing)."""
    root = tmp_path_factory.mktemp("dst")
    (root / "connect-configs").symlink_to(SYSTEMS_DIR.parent / "connect-configs")  # connectors: beside the folder
    folder = root / "systems"
    folder.mkdir()
    for name in ("crm.columns.yaml", "erp.columns.yaml"):
        shutil.copy(SYSTEMS_DIR / name, folder / name)
    for name in ("crm", "erp"):
        lines = (SYSTEMS_DIR / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if not line.startswith(("time_zone:", "writable:", "target:"))]
        zone = ZONE if name == "erp" else "UTC"
        (folder / f"{name}.yaml").write_text("\n".join([*kept, f"time_zone: {zone}", "writable: false", ""]),
                                             encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def published(stack: RunningStack, systems_dir: Path) -> Iterator[tuple[str, dict[str, int]]]:
    """The canonical erp-orders topic of a flow of this module's own, and the ids of the orders written."""
    tag = str(random.randrange(10**8, 10**9))
    prefix = f"test-dst-{tag}.canonical"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SYSTEMS_DIR_ENV, str(systems_dir))  # the mappings' columns come from the same folder
        context = FlowContext.load()
    assert context.systems["erp"].time_zone == ZONE
    flow = CanonicalFlow(schemas=context.schemas, mappings=context.mappings, systems=context.systems,
                         name=f"test-canonical-dst-{tag}", prefix=prefix)
    with RunningFlow(flow.spec(), stack.settings.bootstrap_servers, context.schemas):
        conn = stack.connect_erp(autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO accounts (account_code, name) VALUES (%s, %s)", (f"DST{tag}", f"DST {tag}"))
                account_id = cur.lastrowid
                ids = {}
                for n, (label, order_date) in enumerate((("overlap", OVERLAP), ("gap", GAP), ("ordinary", ORDINARY))):
                    cur.execute("INSERT INTO sales_orders (order_no, account_id, order_date, total_amount) "
                                "VALUES (%s, %s, %s, %s)", (f"DST{tag}-{n}", account_id, order_date,
                                                            Decimal("12.50")))
                    ids[label] = cur.lastrowid
        finally:
            conn.close()
        topic = f"{prefix}.erp-orders"
        keys = {str(i) for i in ids.values()}
        eventually(f"the orders {sorted(keys)} on {topic}", lambda: set(_records(stack, topic)) >= keys, timeout=180)
        yield topic, ids


def _records(stack: RunningStack, topic: str) -> dict[str, Record]:
    """The last committed record of each key on ``topic``."""
    return {r.text_key or "": r for r in records_to_end(stack.settings.bootstrap_servers, [topic])}


def test_erp_orders_in_the_overlap_and_the_gap_reach_the_canonical_topic_flagged(
        stack: RunningStack, published: tuple[str, dict[str, int]]) -> None:
    topic, ids = published
    schemas = SchemaStore.from_directory()
    records = _records(stack, topic)
    by_label = {label: records[str(order_id)] for label, order_id in ids.items()}
    times = {label: schemas.decode(r.value).value["ordered_at"] for label, r in by_label.items()}
    assert times == {"overlap": dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC),   # 02:30 CEST, the first pass
                     "gap": dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC),        # 03:30 CEST, shifted by the gap
                     "ordinary": dt.datetime(2024, 10, 27, 2, 30, tzinfo=UTC)}  # 03:30 CET
    notes = {label: Lineage.from_headers(r.headers).local_times for label, r in by_label.items()}
    assert notes["overlap"] == ({"field": "ordered_at", "local": "2024-10-27T02:30:00", "zone": ZONE,
                                 "case": "repeated", "resolution": "earlier", "utc": "2024-10-27T00:30:00+00:00"},)
    assert notes["gap"] == ({"field": "ordered_at", "local": "2024-03-31T02:30:00", "zone": ZONE, "case": "skipped",
                             "resolution": "shift_forward 1:00:00", "utc": "2024-03-31T01:30:00+00:00"},)
    assert notes["ordinary"] == ()
    lineage = json.loads(dict(by_label["overlap"].headers)["isthmus-lineage"])
    assert (lineage["system"], lineage["table"]) == ("erp", "sales_orders")
