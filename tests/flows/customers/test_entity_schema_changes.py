"""A source table's schema changed under its mapping while the flow runs (the new-user trial renamed
``crm.customers.phone`` to ``phone_number``): a change whose row lacks a column the mapping reads is
dead-lettered with the table, the column and the fix, never mapped as if the column were null; a column the
mapping does not read may come and go."""

from __future__ import annotations

import json
from typing import Any

from customer_harness import Harness

from reference.topics import CRM_CUSTOMERS
from streams.flows.customers import STAGE


def _renamed(record: tuple[str, bytes, bytes], old: str, new: str | None) -> tuple[str, bytes, bytes]:
    """``record`` as Debezium writes it once the table's column ``old`` is renamed ``new`` (None: dropped):
    the Connect schema of both row images and the rows themselves."""
    topic, key, value = record
    document = json.loads(value)
    for struct in document["schema"]["fields"]:
        if struct["field"] in ("before", "after"):
            fields: list[dict[str, Any]] = struct["fields"]
            struct["fields"] = [({**f, "field": new} if new else None) if f["field"] == old else f
                                for f in fields]
            struct["fields"] = [f for f in struct["fields"] if f is not None]
    for image in ("before", "after"):
        row = document["payload"][image]
        if row is not None:
            value_of = row.pop(old)
            if new:
                row[new] = value_of
    return topic, key, json.dumps(document).encode()


def test_a_create_without_a_mapped_column_is_dead_lettered_with_the_fix(harness: Harness) -> None:
    created = _renamed(harness.systems.crm_create("C-610001", name="Renamed", phone="+41 1"), "phone", "phone_number")
    assert harness.feed(created) == []
    (letter,) = harness.dead_letters
    assert letter.stage == STAGE and letter.record.topic == CRM_CUSTOMERS
    assert "crm.customers: the change has no column phone" in letter.reason
    assert "isthmus mappings discover crm" in letter.reason and "isthmus mappings validate" in letter.reason
    assert "replay the dead letters" in letter.reason
    assert len(harness.run.context.memory["entities"]) == 0 and harness.emitted == []


def test_an_update_without_a_mapped_column_is_refused_not_reverted(harness: Harness) -> None:
    """The trial: the CRM user's phone edit was not sent, and the flow commanded the old phone back."""
    harness.feed(harness.systems.crm_create("C-610002", name="Edited", phone="+41 1"))
    emitted = len(harness.emitted)
    edit = _renamed(harness.systems.crm_edit("C-610002", phone="+41 2"), "phone", "phone_number")
    assert harness.feed(edit) == []
    (letter,) = harness.dead_letters
    assert "no column phone" in letter.reason
    assert len(harness.emitted) == emitted


def test_a_snapshot_read_without_a_mapped_column_is_dead_lettered(harness: Harness) -> None:
    """The trial: an incremental snapshot of the renamed table wiped every phone of the other side."""
    topic, key, value = harness.systems.crm_create("C-610003", name="Snap", phone="+41 3")
    document = json.loads(value)
    document["payload"]["op"] = "r"
    assert harness.feed(_renamed((topic, key, json.dumps(document).encode()), "phone", None)) == []
    (letter,) = harness.dead_letters
    assert "no column phone" in letter.reason and harness.emitted == []


def test_a_dropped_column_the_mapping_does_not_read_does_not_matter(harness: Harness) -> None:
    created = _renamed(harness.systems.crm_create("C-610004", name="Fine", phone="+41 4"), "created_at", None)
    (sent,) = harness.feed(created)
    assert sent.route == ("Account", "create") and sent.payload["phone"] == "+41 4"
    assert harness.dead_letters == []


def test_a_delete_needs_only_the_columns_that_place_its_record(harness: Harness) -> None:
    harness.feed(harness.systems.crm_create("C-610005", name="Going", phone="+41 5"))
    assert harness.feed(_renamed(harness.systems.crm_delete("C-610005"), "phone", None)) is not None
    assert harness.dead_letters == []
