"""An END whose changes the entity flow used long ago (its consumer group reads the transaction topic from the
start while its table topics resume where they were; the first start after an upgrade) is abandoned at once
when it arrives after a change of a transaction committed later, instead of holding that one back for ever."""

from __future__ import annotations

import pytest
from customer_harness import Harness
from support.commits import after_commit_of
from support.tx_events import end_of

from streams.flows.orders.txjoin import ABANDONED

pytestmark = pytest.mark.unit

NUMBER, OLD = "C-440001", "C-440000"


def test_an_old_crm_end_after_a_newer_change_does_not_hold_it_back(harness: Harness) -> None:
    systems = harness.systems
    old = systems.crm_create(OLD, name="Long Ago")  # used before the flow read the transaction topic
    old_end = end_of([old])
    topic, key, value = systems.crm_create(NUMBER, name="Acme")
    new = (topic, key, after_commit_of(value, old_end[2]))
    sent = harness.feed_exactly(new, old_end, end_of([new]))
    assert [(s.route, s.key) for s in sent] == [(("Account", "create"), NUMBER)]
    assert harness.run.context.counts[ABANDONED] == 1 and harness.dead_letters == []


def test_an_old_erp_end_after_a_newer_change_does_not_hold_it_back(harness: Harness) -> None:
    systems = harness.systems
    old_end = end_of([systems.erp_create(OLD, name="Long Ago")])  # GTIDs of one domain order the commits
    new = systems.erp_create(NUMBER, name="Acme")
    harness.feed_exactly(new, old_end, end_of([new]))
    assert harness.stored(NUMBER) is not None
    assert harness.run.context.counts[ABANDONED] == 1 and harness.dead_letters == []
