"""The supervisor starts a process group, finds it again from its pid file, and stops all of it."""

import os
import signal
import sys
from pathlib import Path

from support.waiting import eventually

from streams.stack.process import LaunchSpec, ManagedProcess

# A parent that ignores SIGTERM and has a child: stopping must still leave nothing behind.
STUBBORN = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "print('rea' + 'dy', flush=True); time.sleep(600)"
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def test_stop_kills_the_whole_group_even_if_the_parent_ignores_the_signal(tmp_path: Path) -> None:
    process = ManagedProcess("stubborn", tmp_path / "run", tmp_path / "logs" / "stubborn.log")
    pid = process.start(LaunchSpec(argv=(sys.executable, "-c", STUBBORN)))
    eventually("the stubborn parent and its child ready", lambda: "ready" in process.log_path.read_text().splitlines(),
               timeout=10, every=0.05)
    assert process.pid() == pid
    assert len(_group_members(pid)) == 2

    taken = process.stop(signal.SIGTERM, timeout=0.5)

    assert taken is not None
    assert _group_members(pid) == []
    assert not _alive(pid)
    assert process.pid() is None
    assert not process.pid_path.exists()


def test_a_stale_pid_file_is_not_mistaken_for_the_service(tmp_path: Path) -> None:
    process = ManagedProcess("ghost", tmp_path / "run", tmp_path / "ghost.log")
    process.pid_path.parent.mkdir(parents=True)
    process.pid_path.write_text(f"{os.getpid()} 1\n")  # our own pid, but another start time
    assert process.pid() is None
    assert not process.pid_path.exists()
    assert process.stop(signal.SIGTERM, timeout=1) is None


def test_log_tail_shows_the_last_lines(tmp_path: Path) -> None:
    process = ManagedProcess("chatty", tmp_path / "run", tmp_path / "chatty.log")
    pid = process.start(LaunchSpec(argv=(sys.executable, "-c", "print('\\n'.join(map(str, range(100))))")))
    eventually("the chatty process exited", lambda: not _alive(pid), timeout=10, every=0.05)
    assert process.log_tail(3).splitlines() == ["97", "98", "99"]
