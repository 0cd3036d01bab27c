"""Following an incremental snapshot to its end: its notifications from the connector's sink channel, and the
connector's status from Kafka Connect, until Debezium says it completed, the task fails, or time runs out.

The positions to read from are taken *before* the signal is written (:func:`positions_before`), so no
notification of the signal can be missed; the reading is :mod:`streams.inspect.reader`'s (``read_committed``:
the connectors run with exactly-once, and an aborted transaction's notifications never happened).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from streams.capture.client import ConnectClient
from streams.capture.exceptions import ConnectError, ConnectorNotFound, NotificationError
from streams.capture.notifications import Outcome, SnapshotFollower, parse
from streams.config.kafka import KafkaAddress
from streams.inspect import reader
from streams.inspect.exceptions import UnknownTopic

#: Seconds between two looks at the connector's status (a FAILED task sends no notification).
STATUS_EVERY_S = 2.0
#: Seconds between two looks for a notification topic that does not exist yet (Connect creates it with the first).
TOPIC_WAIT_S = 1.0
#: Seconds a connector must stay unlisted before it is taken as deleted: a Kafka Connect just restarted (or a
#: worker of its cluster) answers 404 for every connector until it has read its config topic, while the task goes on
#: with the snapshot from its offsets once it has.
ABSENT_FOR_S = 60.0


def positions_before(kafka: KafkaAddress, topic: str) -> reader.Positions:
    """The notification topic's ends now, to read the signal's notifications from (none while it does not exist:
    then all it will hold is newer)."""
    return reader.end_offsets(kafka, [topic])


def follow(kafka: KafkaAddress, client: ConnectClient, follower: SnapshotFollower, *, topic: str,
           since: reader.Positions, timeout: float, say: Callable[[str], None],
           clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Feed ``follower`` the notifications on ``topic`` from ``since``, saying its lines, until it has an outcome,
    the connector or a task is FAILED, or ``timeout`` seconds passed."""
    deadline = clock() + timeout
    next_status = clock()
    unreachable: list[str] = []
    absent: list[float] = []  # when Connect first did not list the connector, while it still does not

    def stop() -> bool:
        nonlocal next_status
        if follower.outcome is not None:
            return True
        now = clock()
        if now >= next_status:
            next_status = now + STATUS_EVERY_S
            failures = _failures(client, follower.connector, unreachable, say, absent=absent, now=now)
            if failures:
                follower.task_failed(failures)
                return True
        if now >= deadline:
            follower.timed_out(timeout, topic)
            return True
        return False

    while follower.outcome is None:
        try:
            for raw in reader.read(kafka, [topic], reader.StartAt(at=since), follow=True, stop=stop):
                try:
                    notification = parse(raw.value)
                except NotificationError as exc:
                    say(f"note: {topic} partition {raw.partition} offset {raw.offset} skipped: {exc}")
                    continue
                if notification is not None:
                    for line in follower.feed(notification):
                        say(line)
        except UnknownTopic:  # no notification yet: Connect creates the topic when it writes the first
            if not stop():
                time.sleep(TOPIC_WAIT_S)
    return follower.outcome


def _failures(client: ConnectClient, name: str, unreachable: list[str],
              say: Callable[[str], None], *, absent: list[float], now: float) -> list[tuple[str, str]]:
    """The connector's FAILED parts (``(what, trace)``); none while Connect does not answer (said once), and the
    connector itself as failed when it was deleted meanwhile: unlisted for ``ABSENT_FOR_S`` (a Connect that has just
    restarted lists none until it has read its config topic; said once)."""
    try:
        state = client.status(name)
    except ConnectorNotFound:
        if not absent:
            absent.append(now)
            say(f"note: Kafka Connect does not list {name} (restarting? it lists its connectors once it has read "
                f"its config topic); still following; taken as deleted if it is not listed within {ABSENT_FOR_S:.0f}s")
        if now - absent[0] < ABSENT_FOR_S:
            return []
        return [("connector", f"{name} was deleted from Kafka Connect while the snapshot ran (not listed for "
                              f"{now - absent[0]:.0f}s)")]
    except ConnectError as exc:
        if not unreachable:
            say(f"note: the connector's status could not be read ({exc}); following the notifications only")
            unreachable.append(str(exc))
        return []
    if absent:
        say(f"note: Kafka Connect lists {name} again ({state.state}); following on")
        absent.clear()
    return state.failures
