"""The worker's log lines about its flows' dead letters, so a dead-lettered change is never silent.

The dead letters themselves go to the dead-letter topic in the batch's transaction; ``isthmus_flow_dead_letters_total``
counts them. A user watching the worker's log should see them as well, as the sinks' logs show theirs: each committed
dead letter is logged as a WARNING naming the flow, the record's position, the error and where to look, up to
:data:`LINES_PER_MINUTE` a flow a minute (a mapping that refuses every record would otherwise flood the log); the rest
of the minute's are counted and summed up in one line by the first batch committed after that minute, and when the
flow stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from streams.flows.engine.staging import DeadLettered

#: Dead letters logged one by one per flow and minute; the rest are counted.
LINES_PER_MINUTE = 10
#: Characters of a dead letter's reason a log line keeps (the dead letter keeps all of it).
REASON_CHARS = 300

log = logging.getLogger("streams.flows.deadletters")


class LetterLog:
    """One flow's dead-letter log lines, at most :data:`LINES_PER_MINUTE` a minute."""

    def __init__(self, flow: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.flow = flow
        self._clock = clock
        self._window_started = -float("inf")
        self._logged = 0
        self._unlogged = 0
        self.total = 0

    def committed(self, letters: Iterable[DeadLettered]) -> None:
        """Log the dead letters of a batch that just committed (called for every committed batch, with or without
        dead letters, so a minute's sum is not held back until the next dead letter)."""
        if self._clock() - self._window_started >= 60:
            self.flush()
        for letter in letters:
            self.total += 1
            now = self._clock()
            if now - self._window_started >= 60:
                self.flush()
                self._window_started, self._logged = now, 0
            if self._logged >= LINES_PER_MINUTE:
                self._unlogged += 1
                continue
            self._logged += 1
            record = letter.record
            reason = letter.reason if len(letter.reason) <= REASON_CHARS else letter.reason[:REASON_CHARS] + " …"
            log.warning("flow %s dead-lettered %s/%d@%d (%s): %s; see `isthmus topics dlq list --stage %s`",
                        self.flow, record.topic, record.partition, record.offset, letter.error_type, reason,
                        letter.stage)

    def flush(self) -> None:
        """Sum up the dead letters not logged one by one (as a new minute starts, and when the flow stops)."""
        if self._unlogged:
            log.warning("flow %s dead-lettered %d more records in the last minute, not logged one by one (%d since "
                        "start); see `isthmus topics dlq list --pending`", self.flow, self._unlogged, self.total)
            self._unlogged = 0
