"""Where the local stack listens and keeps its files.

Every setting comes from an environment variable with a loopback default; ``SETTINGS`` documents
each one, and ``StackSettings.from_env`` validates them all at once and names every bad one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from streams.config.paths import PROJECT_ROOT as PROJECT_ROOT  # re-exported: the stack, tests and tools use it
from streams.stack.exceptions import StackConfigError


def default_home(project_root: Path = PROJECT_ROOT, *, suffix: str = "") -> Path:
    """``<project>/.isthmus``; or, when a folder above the project lets no other user through (PostgreSQL runs
    as the ``postgres`` user when we are root), ``/var/tmp/isthmus-<hash of the project path>``. ``suffix``
    names another stack of the same project (``-test``: ``<project>/.isthmus-test``)."""
    private = any(p.exists() and not os.stat(p).st_mode & 0o001 for p in [project_root, *project_root.parents])
    if not private or os.geteuid() != 0:
        return project_root / f".isthmus{suffix}"
    return Path("/var/tmp") / f"isthmus-{hashlib.sha256(str(project_root).encode()).hexdigest()[:8]}{suffix}"


@dataclass(frozen=True)
class SettingDoc:
    env: str
    description: str


SETTINGS: dict[str, SettingDoc] = {
    "home": SettingDoc("ISTHMUS_HOME", "folder for jars, data, logs, pids and secrets; default <project>/.isthmus "
                       "(git-ignored), or /var/tmp/isthmus-<hash> when the project folder is private"),
    "host": SettingDoc("ISTHMUS_HOST", "loopback address every service binds to"),
    "kafka_port": SettingDoc("ISTHMUS_KAFKA_PORT", "Kafka broker listener"),
    "kafka_controller_port": SettingDoc("ISTHMUS_KAFKA_CONTROLLER_PORT", "Kafka KRaft controller listener"),
    "connect_port": SettingDoc("ISTHMUS_CONNECT_PORT", "Kafka Connect REST API"),
    "crm_db_port": SettingDoc("ISTHMUS_CRM_DB_PORT", "CRM database (PostgreSQL)"),
    "erp_db_port": SettingDoc("ISTHMUS_ERP_DB_PORT", "ERP database (MariaDB)"),
    "crm_api_port": SettingDoc("ISTHMUS_CRM_API_PORT", "reference CRM HTTP API"),
    "erp_api_port": SettingDoc("ISTHMUS_ERP_API_PORT", "reference ERP HTTP API"),
    "tryton_port": SettingDoc("ISTHMUS_TRYTON_PORT", "Tryton's JSON-RPC server (optional service `tryton`)"),
    "kafka_heap_mb": SettingDoc("ISTHMUS_KAFKA_HEAP_MB", "Kafka broker JVM heap, MiB"),
    "connect_heap_mb": SettingDoc("ISTHMUS_CONNECT_HEAP_MB", "Kafka Connect JVM heap, MiB"),
    "erp_time_zone": SettingDoc("ISTHMUS_ERP_TIME_ZONE", "zone of the ERP's offset-less local times"),
    "start_timeout_s": SettingDoc("ISTHMUS_START_TIMEOUT_S", "seconds `isthmus up` waits for each service it starts "
                                  "to answer; default each service's own (90; connect 120, tryton 60): raise it "
                                  "on a slow or loaded machine"),
}

_PORTS = ("kafka_port", "kafka_controller_port", "connect_port", "crm_db_port", "erp_db_port",
          "crm_api_port", "erp_api_port", "tryton_port")


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    home: Path = field(default_factory=default_home)
    host: str = "127.0.0.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    connect_port: int = 18083
    crm_db_port: int = 15432
    erp_db_port: int = 13306
    crm_api_port: int = 18001
    erp_api_port: int = 18002
    tryton_port: int = 18010
    kafka_heap_mb: int = 512
    connect_heap_mb: int = 768
    erp_time_zone: str = "Asia/Shanghai"
    #: None: each service's own ``start_timeout``.
    start_timeout_s: float | None = None

    crm_db_name: str = "crm"
    erp_db_name: str = "erp"
    #: Tryton's database, in the CRM's PostgreSQL cluster (optional service ``tryton``).
    tryton_db_name: str = "tryton"
    db_user: str = "isthmus"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackSettings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        problems: list[str] = []
        types = {f.name: f.type for f in fields(cls)}
        defaults = cls()
        for name, doc in SETTINGS.items():
            raw = env.get(doc.env)
            if raw is None or raw == "":
                continue
            default = getattr(defaults, name)
            if types[name] in ("int", int):
                try:
                    number = int(raw)
                except ValueError:
                    problems.append(f"{doc.env}={raw!r} is not a whole number; unset it to use {default}")
                    continue
                if name in _PORTS and not 1 <= number <= 65535:
                    problems.append(f"{doc.env}={raw!r} is not a port (1-65535); unset it to use {default}")
                    continue
                values[name] = number
            elif name == "start_timeout_s":
                try:
                    seconds = float(raw)
                except ValueError:
                    seconds = 0.0
                if not seconds > 0:
                    problems.append(f"{doc.env}={raw!r} is not a number of seconds above 0; unset it to use each "
                                    "service's own")
                    continue
                values[name] = seconds
            elif name == "home":
                values[name] = Path(raw).expanduser().resolve()
            else:
                values[name] = raw
        host = str(values.get("host", defaults.host))
        if not _is_loopback(host):
            problems.append(f"ISTHMUS_HOST={host!r} is not a loopback address; every service binds to loopback "
                            "(127.0.0.1, ::1 or localhost)")
        settings = cls(**values)  # type: ignore[arg-type]
        ports = [getattr(settings, p) for p in _PORTS]
        for port in sorted({p for p in ports if ports.count(p) > 1}):
            names = [SETTINGS[p].env for p in _PORTS if getattr(settings, p) == port]
            problems.append(f"port {port} is given to more than one service ({', '.join(names)}); give each its own")
        if problems:
            raise StackConfigError("invalid stack settings:\n  " + "\n  ".join(problems))
        return settings

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def connect_url(self) -> str:
        return f"http://{self.host}:{self.connect_port}"

    @property
    def crm_api_url(self) -> str:
        return f"http://{self.host}:{self.crm_api_port}"

    @property
    def erp_api_url(self) -> str:
        return f"http://{self.host}:{self.erp_api_port}"

    @property
    def tryton_url(self) -> str:
        return f"http://{self.host}:{self.tryton_port}"

    def reference_api_url(self, system: str) -> str | None:
        """The URL of the stack's reference app that plays ``system`` (``crm`` or ``erp``), or None: a system of
        the user's own has no API in the local stack."""
        return {"crm": self.crm_api_url, "erp": self.erp_api_url}.get(system)

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def jars_dir(self) -> Path:
        return self.home / "jars"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
