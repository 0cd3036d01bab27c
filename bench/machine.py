"""What the figures were measured on: cores, memory, CPU model and versions."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Machine:
    cores: int
    memory_gib: float
    cpu_model: str
    kernel: str
    python: str
    versions: dict[str, str]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        return (f"{self.cores} cores, {self.memory_gib:.1f} GiB, {self.cpu_model}; Linux {self.kernel}; "
                f"Python {self.python}; {versions}")


def cpu_model(cpuinfo: str) -> str:
    """The first ``model name`` of /proc/cpuinfo text, or ``unknown``."""
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def memory_gib(meminfo: str) -> float:
    """``MemTotal`` of /proc/meminfo text, in GiB."""
    match = re.search(r"^MemTotal:\s*(\d+)\s*kB", meminfo, re.MULTILINE)
    return int(match.group(1)) / 1024 / 1024 if match else 0.0


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def this_machine(kafka_version: str) -> Machine:
    return Machine(cores=os.cpu_count() or 1, memory_gib=memory_gib(_read("/proc/meminfo")),
                   cpu_model=cpu_model(_read("/proc/cpuinfo")), kernel=platform.release(),
                   python=platform.python_version(),
                   versions={"Kafka": kafka_version, "aiokafka": _version("aiokafka")})


def kafka_version(jars_dir: Path) -> str:
    """The Kafka version from the stack's broker jar name (``kafka_2.13-4.3.0.jar``)."""
    for jar in sorted(jars_dir.glob("kafka/kafka_*.jar")):
        match = re.fullmatch(r"kafka_[\d.]+-([\d.]+)\.jar", jar.name)
        if match:
            return match.group(1)
    for jar in sorted(jars_dir.glob("kafka/kafka-clients-*.jar")):
        return jar.name.removeprefix("kafka-clients-").removesuffix(".jar")
    return "unknown"
