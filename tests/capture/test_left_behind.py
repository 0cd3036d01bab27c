"""What ``isthmus connectors delete`` says a deleted connector leaves behind: above all a PostgreSQL connector's
replication slot, which keeps the server's WAL until it is dropped."""

from __future__ import annotations

import pytest

from streams.capture.deploy import left_behind
from streams.capture.options import MARIADB, POSTGRES

pytestmark = pytest.mark.unit


def test_a_postgres_connector_leaves_its_slot_named_with_where_and_how_to_drop_it() -> None:
    said = left_behind("billing-source", {"connector.class": POSTGRES, "slot.name": "billing_slot",
                                          "publication.name": "billing_pub", "database.hostname": "db.example",
                                          "database.port": "6432", "database.dbname": "billing"})
    assert "replication slot billing_slot on db.example:6432/billing" in said
    assert "keeps all WAL" in said
    assert "SELECT pg_drop_replication_slot('billing_slot');" in said and "DROP PUBLICATION billing_pub;" in said


def test_a_postgres_connector_that_drops_its_slot_on_stop_leaves_no_slot() -> None:
    said = left_behind("scratch", {"connector.class": POSTGRES, "slot.name": "s", "slot.drop.on.stop": "true"})
    assert "slot" not in said and "offsets and topics stay" in said


def test_a_mariadb_connector_names_its_schema_history_and_the_binlogs() -> None:
    said = left_behind("shop-source", {"connector.class": MARIADB})
    assert "schema history topic" in said and "Lost position: purged binlogs" in said


def test_a_connector_no_longer_deployed_says_what_stays() -> None:
    assert left_behind("gone", None) == "gone: deleted; its offsets and topics stay (deploy it again to continue " \
                                        "where it stopped)"
