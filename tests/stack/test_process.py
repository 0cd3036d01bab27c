"""The supervisor starts a process group, finds it again from its pid file, and stops all of it."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from support.waiting import eventually

from streams.stack.process import LaunchSpec, ManagedProcess, ServerPidFile

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


# A server that keeps a pid file of its own, as PostgreSQL does: it works in its data directory and writes its pid
# as the file's first line (then more lines), whoever started it.
SERVER = (
    "import os, sys, time; os.chdir(sys.argv[1]); "
    "open(sys.argv[2], 'w').write(f'{os.getpid()}\\n{sys.argv[1]}\\n'); "
    "print('rea' + 'dy', flush=True); time.sleep(600)"
)


def _server(tmp_path: Path, name: str) -> tuple[ManagedProcess, ServerPidFile]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    pid_file = ServerPidFile(path=data / "server.pid", workdir=data)
    return ManagedProcess(name, tmp_path / "run", tmp_path / f"{name}.log", server_pid_file=pid_file), pid_file


def test_a_server_restarted_by_someone_else_is_found_and_stopped_by_its_own_pid_file(tmp_path: Path) -> None:
    process, pid_file = _server(tmp_path, "db")
    first = process.start(LaunchSpec(argv=(sys.executable, "-c", SERVER, str(pid_file.workdir), str(pid_file.path))))
    eventually("the server wrote its pid file", lambda: pid_file.pid() == first, timeout=10, every=0.05)
    assert process.pid() == first

    # a DBA restarts it with the server's own tool: another process, in a session of its own, not started by us
    os.killpg(first, signal.SIGKILL)
    eventually("the first server gone", lambda: not _alive(first), timeout=10, every=0.05)
    restarted = subprocess.Popen([sys.executable, "-c", SERVER, str(pid_file.workdir), str(pid_file.path)],
                                 stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        eventually("the restarted server wrote its pid file", lambda: pid_file.pid() == restarted.pid, timeout=10,
                   every=0.05)
        assert process.pid() == restarted.pid, "the stack's own pid file names a process long gone"

        assert process.stop(signal.SIGTERM, timeout=5) is not None
        assert not _alive(restarted.pid)
        assert process.pid() is None
    finally:
        if restarted.poll() is None:
            restarted.kill()
            restarted.wait()


def test_a_server_pid_file_naming_a_process_working_elsewhere_is_stale(tmp_path: Path) -> None:
    process, pid_file = _server(tmp_path, "db")
    pid_file.path.write_text(f"{os.getpid()}\n")  # a live pid, reused by a process that is not the server
    assert pid_file.pid() is None
    assert process.pid() is None
    assert process.stop(signal.SIGTERM, timeout=1) is None


def test_log_tail_shows_the_last_lines(tmp_path: Path) -> None:
    process = ManagedProcess("chatty", tmp_path / "run", tmp_path / "chatty.log")
    pid = process.start(LaunchSpec(argv=(sys.executable, "-c", "print('\\n'.join(map(str, range(100))))")))
    eventually("the chatty process exited", lambda: not _alive(pid), timeout=10, every=0.05)
    assert process.log_tail(3).splitlines() == ["97", "98", "99"]


def test_a_failed_start_is_said_by_its_errors_not_only_the_shutdown_after_them(tmp_path: Path) -> None:
    """`isthmus up` said `kafka exited during start; last lines of kafka.log:` and 30 INFO lines of Kafka's shutdown;
    the cause, a port it could not bind, was 60 lines higher."""
    log = tmp_path / "kafka.log"
    shutdown = "".join(f"[2026-12-08 03:28:27,{i:03d}] INFO shutting down part {i} (kafka.server.X)\n"
                       for i in range(60))
    log.write_text(
        "\n=== 2026-12-07 10:00:00 starting kafka: java kafka.Kafka\n"
        "[2026-12-07 10:00:01,000] ERROR an old start's error (kafka.Kafka$)\n"
        "\n=== 2026-12-08 03:28:18 starting kafka: java kafka.Kafka\n"
        "[2026-12-08 03:28:26,561] ERROR Unable to start acceptor for PLAINTEXT (kafka.network.DataPlaneAcceptor)\n"
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:33092: Address already "
        "in use.\n\tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:615)\n"
        "Caused by: java.net.BindException: Address already in use\n"
        "\tat java.base/sun.nio.ch.Net.bind0(Native Method)\n"
        + shutdown)
    process = ManagedProcess("kafka", tmp_path / "run", log)
    said = process.start_failure(lines=5)
    what, tail = said.split("\nlast lines:\n")
    assert what.splitlines() == [
        "what went wrong:",
        "[2026-12-08 03:28:26,561] ERROR Unable to start acceptor for PLAINTEXT (kafka.network.DataPlaneAcceptor)",
        "Caused by: java.net.BindException: Address already in use"]
    assert tail.splitlines() == process.log_tail(5).splitlines() and "part 59" in tail
    assert "old start" not in said and "\tat " not in said
    log.write_text("\n=== 2026-12-08 starting kafka: java kafka.Kafka\n[x] INFO fine\n")
    quiet = process.start_failure()
    assert quiet.splitlines()[-1] == "[x] INFO fine" and "what went wrong" not in quiet
