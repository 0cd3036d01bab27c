"""A flow's dead letters are logged by the worker, not only counted: each as a WARNING naming the record and where
to look, at most ten a minute, the rest summed up in one line."""

from __future__ import annotations

import logging

import pytest

from streams.flows.engine.api import Incoming
from streams.flows.engine.letter_log import LINES_PER_MINUTE, LetterLog
from streams.flows.engine.staging import DeadLettered

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _letters(count: int, *, first: int = 0) -> list[DeadLettered]:
    return [DeadLettered(record=Incoming(topic="billing.konto", partition=0, offset=first + n, key=b"k", value=b"v",
                                         timestamp_ms=1),
                         reason="MappingValueError: menge: expected a number", stage="flow.konten",
                         error_type="MappingValueError") for n in range(count)]


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "streams.flows.deadletters"]


def test_a_committed_dead_letter_is_logged_with_its_position_error_and_where_to_look(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    LetterLog("konten", clock=Clock()).committed(_letters(1, first=7179))
    [line] = _lines(caplog)
    assert line == ("flow konten dead-lettered billing.konto/0@7179 (MappingValueError): MappingValueError: menge: "
                    "expected a number; see `isthmus topics dlq list --stage flow.konten`")


def test_past_ten_a_minute_the_rest_are_counted_and_summed_up_when_the_minute_is_over(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    clock = Clock()
    letters = LetterLog("konten", clock=clock)
    letters.committed(_letters(867))
    assert len(_lines(caplog)) == LINES_PER_MINUTE
    clock.now += 30
    letters.committed([])  # a batch without dead letters within the minute: nothing yet
    assert len(_lines(caplog)) == LINES_PER_MINUTE
    clock.now += 31
    letters.committed([])  # the first batch after the minute sums it up
    assert _lines(caplog)[-1] == ("flow konten dead-lettered 857 more records in the last minute, not logged one by "
                                  "one (867 since start); see `isthmus topics dlq list --pending`")
    letters.committed(_letters(1, first=900))  # a new minute: logged one by one again
    assert "billing.konto/0@900" in _lines(caplog)[-1]


def test_what_was_not_logged_is_summed_up_when_the_flow_stops(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    letters = LetterLog("konten", clock=Clock())
    letters.committed(_letters(LINES_PER_MINUTE + 2))
    letters.flush()
    assert "2 more records" in _lines(caplog)[-1]
    letters.flush()  # nothing new: no second line
    assert len(_lines(caplog)) == LINES_PER_MINUTE + 1
