"""What every service of the local stack provides to the manager."""

from __future__ import annotations

import os
import pwd
import signal
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from streams.stack.prerequisites import Toolchain
from streams.stack.process import LaunchSpec, ManagedProcess, ServerPidFile
from streams.stack.progress import Progress
from streams.stack.secrets import StackSecrets
from streams.stack.settings import StackSettings


@dataclass(frozen=True, kw_only=True)
class ServiceContext:
    settings: StackSettings
    secrets: StackSecrets
    toolchain: Toolchain | None
    progress: Progress

    @property
    def conf_dir(self) -> Path:
        return self.settings.home / "conf"


class Service(ABC):
    name: ClassVar[str]
    depends_on: ClassVar[tuple[str, ...]] = ()
    #: Started only when named (``isthmus up <name>``), never by a plain ``isthmus up``.
    optional: ClassVar[bool] = False
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    #: Seconds the manager waits for it to answer after starting it, unless ISTHMUS_START_TIMEOUT_S says.
    start_timeout: ClassVar[float] = 90.0
    stop_timeout: ClassVar[float] = 30.0

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.process = ManagedProcess(self.name, ctx.settings.run_dir, ctx.settings.logs_dir / f"{self.name}.log",
                                      server_pid_file=self.server_pid_file())

    @property
    def start_seconds(self) -> float:
        """How long ``isthmus up`` waits for it to answer: ``ISTHMUS_START_TIMEOUT_S``, or its own default."""
        return self.settings.start_timeout_s or self.start_timeout

    def server_pid_file(self) -> ServerPidFile | None:
        """The pid file the server keeps itself, if it has one: status, up and down follow the server by it also
        after someone else restarted it with the server's own tools."""
        return None

    @property
    @abstractmethod
    def address(self) -> str:
        """Where clients reach the service."""

    @property
    @abstractmethod
    def ports(self) -> tuple[int, ...]:
        """The loopback ports it listens on."""

    @property
    def toolchain(self) -> Toolchain:
        if self.ctx.toolchain is None:
            raise RuntimeError(f"{self.name}: the toolchain is needed to start it")
        return self.ctx.toolchain

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """One-time setup before the first start (formatting storage, creating a data directory)."""

    @abstractmethod
    def launch(self) -> LaunchSpec:
        """The command that runs the service in the foreground."""

    @abstractmethod
    def is_healthy(self) -> bool:
        """True when the service answers as its clients need it to."""

    def bootstrap(self) -> None:  # noqa: B027 - optional hook
        """Idempotent setup once healthy (users, databases)."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_as_service_user(name: str) -> str | None:
    """The unprivileged user a server that refuses root (PostgreSQL) runs as, when we are root."""
    if os.geteuid() != 0:
        return None
    pwd.getpwnam(name)
    return name


def chown_tree(path: Path, user: str | None) -> None:
    """Give a folder and all in it (or one file) to ``user``."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for item in dirs + files:
            os.lchown(os.path.join(root, item), entry.pw_uid, entry.pw_gid)


def write_properties(path: Path, values: dict[str, str | int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Written by isthmus on every start; edit the settings, not this file.\n"
                    + "".join(f"{key}={value}\n" for key, value in values.items()))
    return path


LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


def java_argv(ctx: ServiceContext, heap_mb: int, classpath: Path, main_class: str, *args: str) -> tuple[str, ...]:
    log4j = ctx.conf_dir / "log4j2.properties"
    log4j.parent.mkdir(parents=True, exist_ok=True)
    log4j.write_text(LOG4J2)
    java = ctx.toolchain.java if ctx.toolchain else "java"
    return (
        java, f"-Xms{max(heap_mb // 2, 64)}m", f"-Xmx{heap_mb}m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
        "-cp", f"{classpath}/*", main_class, *args,
    )
