"""A flow first started after an upgrade reads a transaction topic from its beginning (made up here: the roster's
of crew_run.py) while its table topics resume where they were: every old END waits for changes handled long ago,
and is abandoned once the flow has read the table to its end. A real one logged 1,080 lines at once, one per old
transaction (millions in production): the first few are logged, the rest summed up in a line a minute, and every
one is still counted."""

from __future__ import annotations

import logging

import pytest
from crew_run import Crew, member
from support.tx_events import one_transaction

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.orders import txjoin
from streams.flows.orders.txjoin import ABANDONED, ABANDONED_LINES, ABANDONED_WINDOW_S, AbandonedLog

pytestmark = pytest.mark.unit

OLD = 40


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _abandoned_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is abandoned" in r.getMessage()]


def _summaries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "source transactions abandoned" in r.getMessage()]


def test_the_old_transactions_of_a_first_start_are_logged_a_few_then_summed_up(
        schemas: SchemaStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(txjoin, "ABANDONED_LOG", AbandonedLog(clock=clock))
    crew = Crew(schemas)
    # the member changes were handled long before this history: only their transactions' ENDs come now
    ends = [one_transaction([crew.change("member", "u", before=member(f"M-{n}", "Old"),
                                         after=member(f"M-{n}", "Older"))])[-1] for n in range(OLD)]
    members = crew.systems["roster"].topic("member")
    caplog.set_level(logging.INFO, logger="streams.flows.txjoin")
    assert crew.feed(*ends) == []  # each waits for its member change
    crew.run.tick(read_to_end=(members,))
    assert crew.run.context.counts[ABANDONED] == OLD, "every one counted"
    lines = _abandoned_lines(caplog)
    assert len(lines) == ABANDONED_LINES, f"{len(lines)} lines, one per old transaction"
    assert lines[0].startswith("source transaction ") and "its changes of roster.member" in lines[0]
    assert _summaries(caplog) == [], "summed up once the minute has passed"

    clock.now += ABANDONED_WINDOW_S
    crew.run.tick(read_to_end=(members,))  # the next tick, nothing more to abandon
    [summary] = _summaries(caplog)
    assert summary.startswith(f"{OLD - ABANDONED_LINES} more source transactions abandoned, not logged one by one: "
                              f"{OLD - ABANDONED_LINES} whose changes of roster.member the flow had read past; "
                              "the latest ")
    assert f"({OLD} since the worker started, counted as {ABANDONED} in the flow's metrics)" in summary
    crew.run.tick(read_to_end=(members,))
    assert len(_summaries(caplog)) == 1 and len(_abandoned_lines(caplog)) == ABANDONED_LINES
