"""/ready on a restart, as a user saw it: a worker with state on disk, killed with SIGKILL and started again at once,
waits for its group (the dead member holds the partition until its session times out), then replays the changelog
written since its checkpoint. /ready answered 200 ``ready: true, processed: 0`` during that wait; it must answer 503
until the task's stores are restored and its input positioned, saying what it waits for (joining, then restoring
with the replay's progress), while /health stays 200. The log says what it waited for and how the restore went."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from support.ports import free_port
from support.processes import STATE_WORKER, start_script, stop
from support.topics import probe_topics, read_committed
from support.waiting import eventually

from streams.flows.engine.readiness import PROGRESS_EVERY_S
from streams.stack.running import RunningStack

#: Changelog records written behind the stopped worker's checkpoint: enough for a restore of a second or more.
BULK = 150_000
_READY_LINE = "task 0: ready in "


def _get(url: str) -> tuple[int, dict[str, Any] | None]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:  # not listening yet
        return 0, None


class _Poller(threading.Thread):
    """Polls /ready (and /health) every 50 ms; each answer kept with whether the log said the task was ready then."""

    def __init__(self, port: int, log: Path) -> None:
        super().__init__(daemon=True)
        self.port, self.log = port, log
        self.answers: list[tuple[float, int, dict[str, Any] | None, bool]] = []
        self.health: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        for _ in range(1000):  # 50 s at most: each round sleeps 50 ms or more
            if self.done.is_set():
                return
            logged_ready = _READY_LINE in self.log.read_text(errors="replace")
            status, body = _get(f"http://127.0.0.1:{self.port}/ready")
            self.answers.append((time.monotonic() - began, status, body, logged_ready))
            if status:
                self.health.append(_get(f"http://127.0.0.1:{self.port}/health")[0])
            if status == 200:
                return
            time.sleep(0.05)


def test_ready_answers_not_ready_while_joining_and_restoring(stack: RunningStack, tmp_path: Path) -> None:
    bootstrap = stack.settings.bootstrap_servers
    flow, topic_in, topic_out = probe_topics(bootstrap, "ready-probe", 1)
    port = free_port()
    env = {"STATE_BROKER": bootstrap, "STATE_FLOW": flow, "STATE_IN": topic_in, "STATE_OUT": topic_out,
           "STATE_DIR": str(tmp_path / "state"), "STATE_PORT": str(port), "STATE_SESSION_MS": "10000"}
    first_log, log = tmp_path / "first.log", tmp_path / "worker.log"
    worker = start_script(STATE_WORKER, env, first_log)
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=512 * 1024)
        for i in range(20):
            producer.send(topic_in, key=b"key-%d" % i, value=b"v%d" % i)
        producer.flush()
        assert read_committed(bootstrap, topic_out, at_least=20, timeout=60, drain=False, worker=worker), \
            first_log.read_text()
        # The worker idle: its checkpoint is on disk. A large state written behind it (as a long outage's worth of
        # commits would be), then SIGKILL and an immediate restart: the dead member stays in the group.
        changelog = f"{flow}-counts-changelog"
        for i in range(BULK):
            producer.send(changelog, key=b"bulk-%d" % i, value=b'{"n":1}', partition=0)
        producer.flush()
        producer.close()
        eventually("the first worker ready", lambda: _get(f"http://127.0.0.1:{port}/ready")[0] == 200, timeout=30)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        worker = start_script(STATE_WORKER, env, log)
        poller = _Poller(port, log)
        poller.start()
        poller.join(timeout=55)
        poller.done.set()
    finally:
        stop(worker)
    text = log.read_text()
    answered = [(t, status, body, logged) for t, status, body, logged in poller.answers if status]
    assert answered, f"/ready never answered; log:\n{text[-3000:]}"
    early = [(round(t, 2), body) for t, status, body, logged in answered if status == 200 and not logged]
    assert not early, f"/ready said ready before the task's stores were restored: {early[:2]}"
    _, status, body, _ = answered[-1]
    assert status == 200 and body is not None, f"never ready in 50 s; last answer {body}; log:\n{text[-3000:]}"
    assert body["flows"][flow]["state"] == "consuming" and body["flows"][flow]["tasks"] == [0]
    states = [b["flows"][flow]["state"] for _, s, b, _ in answered if s == 503 and b is not None]
    assert "joining" in states and "restoring" in states, states
    replays = [b["flows"][flow]["restoring"]["0"]["stores"]["counts"] for _, s, b, _ in answered
               if s == 503 and b is not None and b["flows"][flow].get("restoring", {}).get("0", {}).get("step")
               == "stores" and "counts" in b["flows"][flow]["restoring"]["0"]["stores"]]
    assert any(r["of"] >= BULK and r["restored"] < r["of"] for r in replays), replays[:5]
    assert set(poller.health) == {200}, "a worker joining or restoring is alive"
    # The log: what the join waited for, what the restore replayed from where, and the time the task took.
    assert f"{flow}: joining consumer group {flow}" in text
    joined = re.search(rf"{flow}: joined consumer group {flow} in ([0-9.]+)s: task\(s\) 0", text)
    assert joined, text[-3000:]
    if float(joined.group(1)) > PROGRESS_EVERY_S + 0.5:  # the dead member's session ran out after that
        assert f"{flow}: still joining consumer group {flow} after " in text
    assert "store(s) from their changelogs" in text and "from the local checkpoint at offset" in text, text[-3000:]
    assert _READY_LINE in text
