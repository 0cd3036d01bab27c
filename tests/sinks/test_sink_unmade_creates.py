"""A record's commands behind a create the sink dead-lettered fail too; their dead letters name that create."""

from __future__ import annotations

import pytest

from streams.sinks.records import SinkCommand
from streams.sinks.unmade import UnmadeCreates

pytestmark = pytest.mark.unit


def command(operation: str, key: str = "C-1", command_id: str = "c1") -> SinkCommand:
    return SinkCommand(command_id=command_id, idempotency_key=f"k-{command_id}", target="erp", operation=operation,
                       entity_type="isthmus.canonical.Customer", entity_key=key,
                       payload_type="isthmus.canonical.Account", payload={})


def test_an_update_behind_a_dead_lettered_create_names_it_until_a_create_is_applied() -> None:
    unmade = UnmadeCreates()
    refused = "ERP answered 422 to POST /accounts: name: at most 200 characters"
    assert unmade.dead_lettered(command("create"), "isthmus.commands.erp[0]@7", refused) == refused
    lookup = "lookup account_id (GET /accounts?code=C-1) found nothing: 404; create the entity it looks for first"
    reason = unmade.dead_lettered(command("update", command_id="c2"), "isthmus.commands.erp[0]@8", lookup)
    assert reason.startswith(lookup)
    assert ("the target has likely no C-1 yet: its create c1 (isthmus.commands.erp[0]@7): ERP answered 422 to "
            "POST /accounts: name: at most 200 characters was dead-lettered before this command, so replay that "
            "one first") in reason
    assert unmade.dead_lettered(command("update", key="C-2"), "x", lookup) == lookup, "another record"
    unmade.applied(command("create", command_id="c3"))  # the create replayed, and made
    assert unmade.dead_lettered(command("update", command_id="c4"), "x", lookup) == lookup


def test_only_the_newest_records_are_remembered() -> None:
    unmade = UnmadeCreates(limit=2)
    for key in ("C-1", "C-2", "C-3"):
        unmade.dead_lettered(command("create", key=key), "x", "refused")
    assert unmade.dead_lettered(command("update", key="C-1"), "x", "gone") == "gone"
    assert "create c1" in unmade.dead_lettered(command("update", key="C-3"), "x", "gone")
