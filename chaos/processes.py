"""The Isthmus processes under test: `isthmus worker` and both `isthmus sink` workers, each its own process
group, SIGKILLed on purpose and restarted; an exit nobody asked for is restarted too, and counted."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

COMMANDS: dict[str, list[str]] = {
    "worker": ["worker"],
    "sink-erp": ["sink", "--target", "erp"],
    "sink-crm": ["sink", "--target", "crm"],
}


class Fleet:
    def __init__(self, *, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.unplanned_exits: Counter[str] = Counter()
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str) -> None:
        with open(self.logs / f"{name}.log", "ab") as out:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "streams.cli.main", *COMMANDS[name]], env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)

    def start_all(self) -> None:
        for name in COMMANDS:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL the process group (no clean stop, no flush), then start a fresh one."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.start(name)

    def revive(self) -> list[str]:
        """Restart whatever exited on its own; the names restarted."""
        revived = []
        for name, process in list(self.processes.items()):
            if process.poll() is not None:
                self.unplanned_exits[name] += 1
                revived.append(f"{name} (exit {process.returncode})")
                self.start(name)
        return revived

    def stop_all(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
