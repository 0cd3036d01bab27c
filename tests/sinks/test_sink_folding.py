"""Which waiting commands of an entity a sink folds into a later one (streams/sinks/folding.py)."""

from __future__ import annotations

import pytest

from streams.kafka.deadletters import REPLAY_HEADER
from streams.sinks.folding import folds
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit


def update(changed: tuple[str, ...], **values: object) -> SinkCommand:
    fields = {"command_id": "c", "idempotency_key": "k", "target": "erp", "operation": "update",
              "entity_type": "isthmus.canonical.Account", "entity_key": "C-1",
              "payload_type": "isthmus.canonical.Account", "payload": {"name": "n", "credit_limit": "1.00"},
              "changed_fields": changed, "reads_refusals": False}
    return SinkCommand(**{**fields, **values})  # type: ignore[arg-type]


def test_two_updates_of_an_entity_fold_into_the_later_with_the_changed_fields_of_both() -> None:
    later = update(("credit_limit",), command_id="c2")
    folded = folds(update(("name", "credit_limit")), later)
    assert folded is not None and folded.command_id == "c2" and folded.changed_fields == ("name", "credit_limit")
    assert folds(update(("credit_limit",)), later) is later  # nothing to add


@pytest.mark.parametrize("earlier, later", [
    (update(("name",), operation="create"), update(("name",))),  # a create is made first, alone
    (update(("name",)), update(("name",), operation="deactivate")),
    (update(("name",)), update(("name",), entity_key="C-2")),
    (update(("name",)), update(("name",), payload_type="isthmus.canonical.Link")),
    (update(("name",)), update(("name",), target="crm")),
    (update(("name",), reads_refusals=True), update(("name",), reads_refusals=True)),  # a document flow's edits
    (update(()), update(("name",))),  # names no field: what it writes is not known
])
def test_other_commands_go_one_after_the_other(earlier: SinkCommand, later: SinkCommand) -> None:
    assert folds(earlier, later) is None


def test_a_replayed_dead_letter_is_sent_as_it_is() -> None:
    replay = ((REPLAY_HEADER, b"isthmus.dlq:0:7"),)
    assert folds(update(("name",)), update(("name",)), replay) is None
    assert folds(update(("name",)), update(("name",)), (), replay) is None
