"""An END whose counted changes never come to the flow (handled before its consumer group read the transaction
topic, filtered by an SMT, expired) on a table with no later change: the flow's tick abandons it once that table's
topic is read to its end, and the transactions queued behind it go on; until then it waits."""

from __future__ import annotations

import pytest
from customer_events import decode_commands
from customer_harness import Harness
from support.tx_events import end_of

from reference.topics import CRM_CONTACTS, CRM_CUSTOMERS
from streams.flows.orders.txjoin import ABANDONED

pytestmark = pytest.mark.unit

NUMBER, OLD = "C-450001", "C-450000"


def _held_behind_an_old_contacts_end(harness: Harness) -> None:
    systems = harness.systems
    systems.crm_create(OLD, name="Long Ago")
    old_end = end_of([systems.crm_contact(OLD)])  # its contact change was handled before this history
    new = systems.crm_create(NUMBER, name="Acme")
    assert harness.feed_exactly(old_end, new, end_of([new])) == []  # queued behind the old END


def _ticked(harness: Harness, *read_to_end: str) -> list[tuple[tuple[str, str], str]]:
    start = len(harness.emitted)
    harness.run.tick(read_to_end=read_to_end)
    return [(s.route, s.key) for s in decode_commands(harness.emitted[start:], harness.schemas)]


def test_an_old_end_is_abandoned_once_its_missing_table_is_read_to_its_end(harness: Harness) -> None:
    _held_behind_an_old_contacts_end(harness)
    assert _ticked(harness, CRM_CONTACTS, CRM_CUSTOMERS) == [(("Account", "create"), NUMBER)]
    assert harness.run.context.counts[ABANDONED] == 1 and harness.dead_letters == []
    assert _ticked(harness, CRM_CONTACTS, CRM_CUSTOMERS) == []  # released once


def test_an_old_end_waits_while_its_missing_table_is_not_read_to_its_end(harness: Harness) -> None:
    _held_behind_an_old_contacts_end(harness)
    assert _ticked(harness, CRM_CUSTOMERS) == []  # the contact change may still come
    assert harness.run.context.counts[ABANDONED] == 0
    assert _ticked(harness, CRM_CONTACTS) == [(("Account", "create"), NUMBER)]
