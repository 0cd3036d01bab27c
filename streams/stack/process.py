"""Starting, finding and stopping the stack's processes.

A service's pid file holds its pid and the process start time from ``/proc``, so a reused pid is never
mistaken for the service. A server that keeps a pid file of its own (PostgreSQL's ``postmaster.pid``, MariaDB's
``--pid-file``) is known by that file first: it names the server also after someone else restarted it (a DBA's
``pg_ctl restart``), when the stack's own file names a process long gone. Stopping sends the service's own stop
signal, waits, then SIGKILLs the whole process group, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class LaunchSpec:
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    cwd: Path | None = None


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), or None if the process is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = stat[stat.rindex(")") + 2 :].split()
    if rest[0] in ("Z", "X"):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return None
    return rest[19]


@dataclass(frozen=True, kw_only=True)
class ServerPidFile:
    """A pid file the server keeps itself, whoever started it: its first line is the server's pid. The server works
    in ``workdir`` (PostgreSQL and MariaDB change to their data directory), which tells it from another process
    that took over the pid of a stale file."""

    path: Path
    workdir: Path

    def pid(self) -> int | None:
        """The pid of the server that runs in ``workdir`` as the file says, or None."""
        try:
            pid = int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if _start_time(pid) is None:
            return None
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return None
        return pid if Path(cwd) == self.workdir.resolve() else None


class ManagedProcess:
    """One service process, known by its server's own pid file if it has one, else by the stack's."""

    def __init__(self, name: str, run_dir: Path, log_path: Path, server_pid_file: ServerPidFile | None = None) -> None:
        self.name = name
        self.pid_path = run_dir / f"{name}.pid"
        self.log_path = log_path
        self.server_pid_file = server_pid_file

    def pid(self) -> int | None:
        """The pid of the running service, or None (a stale pid file of the stack's is removed)."""
        if self.server_pid_file is not None and (pid := self.server_pid_file.pid()) is not None:
            return pid
        try:
            pid_text, started = self.pid_path.read_text().split()
            pid = int(pid_text)
        except (FileNotFoundError, ValueError):
            return None
        if _start_time(pid) == started:
            return pid
        self.pid_path.unlink(missing_ok=True)
        return None

    def start(self, spec: LaunchSpec) -> int:
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **spec.env}
        with open(self.log_path, "ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n=== {stamp} starting {self.name}: {' '.join(spec.argv)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.cwd,
                user=spec.user,
                start_new_session=True,
            )
        started = _start_time(process.pid) or "0"
        self.pid_path.write_text(f"{process.pid} {started}\n")
        return process.pid

    def exited(self, pid: int) -> bool:
        return _start_time(pid) is None

    def stop(self, stop_signal: signal.Signals, timeout: float) -> float | None:
        """Stop the service; returns seconds taken, or None if it was not running."""
        pid = self.pid()
        if pid is None:
            return None
        began = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, stop_signal)
        while time.monotonic() - began < timeout and not self.exited(pid):
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)  # a server someone else started may not lead a process group of its own
        while not self.exited(pid):
            time.sleep(0.05)
        _wait_group_gone(pid, GROUP_GONE_TIMEOUT_S)
        self.pid_path.unlink(missing_ok=True)
        return time.monotonic() - began

    def start_failure(self, lines: int = 30) -> str:
        """What the log says of the latest start (from its ``=== ... starting`` line on): the lines that say what went
        wrong (ERROR, FATAL, a Java ``Caused by:``; the first :data:`FAILURE_LINES` of them), then its last ``lines``.
        A JVM that fails at start logs dozens of INFO lines of its shutdown after the error, which pushed the cause
        (``Socket server failed to bind to 127.0.0.1:33092: Address already in use``) out of a plain tail."""
        try:
            data = self.log_path.read_bytes()[-400000:]
        except FileNotFoundError:
            return "(no log yet)"
        text = data.decode(errors="replace")
        latest = text[text.rfind("\n=== ") + 1:] if "\n=== " in text else text
        found: list[str] = []
        for line in latest.splitlines():
            if _FAILURE_LINE.search(line) and line.strip() not in found:
                found.append(line.strip())
                if len(found) == FAILURE_LINES:
                    break
        tail = "\n".join(latest.splitlines()[-lines:])
        if not found:
            return tail
        return "what went wrong:\n" + "\n".join(found) + f"\nlast lines:\n{tail}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            data = self.log_path.read_bytes()[-20000:]
        except FileNotFoundError:
            return "(no log yet)"
        return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


#: The most lines :meth:`ManagedProcess.start_failure` quotes as what went wrong.
FAILURE_LINES = 8
#: A log line that says why a start failed: log4j's ERROR/FATAL (Kafka, Connect), MariaDB's ``[ERROR]``, PostgreSQL's
#: ``FATAL:``/``ERROR:``, and a Java trace's causes (its ``at`` frames are not).
_FAILURE_LINE = re.compile(r"\bERROR\b|\bFATAL\b|^\s*Caused by: ")

#: How long :meth:`ManagedProcess.stop` waits for the rest of a killed group once its leader is gone.
GROUP_GONE_TIMEOUT_S = 5.0


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """SIGKILL is delivered to every member of the group, but each dies on its own time: on a loaded machine a
    child can outlive its leader by a moment. Wait (bounded) until no live member is left (zombies waiting for
    their reaper do not count), killing again."""
    deadline = time.monotonic() + timeout
    while _live_members(pgid) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.02)


def _live_members(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (Linux: ``/proc/<pid>/stat``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            return True
    return False
