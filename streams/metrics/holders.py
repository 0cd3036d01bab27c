"""Which process listens on a local TCP port, read from Linux's /proc (no tool to install, nothing to run): for
an error that says what holds the port a process was given. Elsewhere, or for another user's process when not
root, the answer is None and the error just leaves the holder out."""

from __future__ import annotations

import os
from pathlib import Path

#: The state of a listening socket in /proc/net/tcp (TCP_LISTEN).
LISTEN = "0A"


def listener_of(port: int, proc: Path = Path("/proc")) -> str | None:
    """``pid N (command line)`` of a process listening on TCP ``port``, or None when it cannot be told."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port, proc)}
    if not sockets:
        return None
    for process in proc.iterdir():
        if not process.name.isdigit():
            continue
        try:
            fds = list((process / "fd").iterdir())
        except OSError:  # gone, or another user's
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in sockets:
                    return f"pid {process.name} ({_command_line(process)})"
            except OSError:
                continue
    return None


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _command_line(process: Path, limit: int = 80) -> str:
    try:
        words = (process / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "command line not readable"
    text = " ".join(" ".join(w.decode(errors="replace") for w in words).split()) or "no command line"
    return text if len(text) <= limit else text[:limit - 1] + "…"
