"""The runtime settings of one process, layered from their sources, each value with where it came from.

Sources, strongest first: the environment (``ISTHMUS_*``), a ``--config`` YAML file (one mapping per section:
``kafka:``, ``connect:``, ``dirs:``, ``endpoints:``, ``capture:``, and one per process: ``worker:``, ``sink:``,
``warehouse:``, ``dashboard:``), the local stack's offer (what ``isthmus up`` runs: its broker, Connect, APIs,
databases and connector placeholders, given by the CLI; no runtime module knows the stack), and each field's
default. Every problem of every section is reported at once, each naming its variable or file line and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from streams.config.capture import CaptureSettings, kafka_variables
from streams.config.connect import ConnectSettings
from streams.config.dirs import DirectorySettings
from streams.config.endpoints import EndpointSettings
from streams.config.exceptions import RuntimeConfigError
from streams.config.kafka import KafkaSettings
from streams.config.section import Section, problem
from streams.config_files.located_yaml import Node, read_file
from streams.dashboard.settings import DashboardSettings
from streams.sinks.settings import SinkSettings
from streams.warehouse.settings import WarehouseSettings
from streams.worker.settings import WorkerSettings

Origin = Literal["env", "file", "stack", "default"]

#: Every section, in the order ``config show`` prints them; a new concern is a new Section class here.
SECTIONS: tuple[type[Section], ...] = (KafkaSettings, ConnectSettings, DirectorySettings, EndpointSettings,
                                       CaptureSettings, WorkerSettings, SinkSettings, WarehouseSettings,
                                       DashboardSettings)

#: A layer of values by section, then field: what a config file or the stack's offer gives.
Layer = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class ConfigFile:
    """A ``--config`` file read through the one located-YAML reader: values, and the line of each."""

    path: Path
    values: dict[str, dict[str, Any]]
    lines: dict[tuple[str, str], int]

    @classmethod
    def read(cls, path: Path) -> ConfigFile:
        problems: list[str] = []

        def report(line: int, where: str, message: str, fix: str) -> None:
            problems.append(f"{path}:{line}: {where}: {message} (fix: {fix})")

        root = read_file(path, report)
        values: dict[str, dict[str, Any]] = {}
        lines: dict[tuple[str, str], int] = {}
        known = {section.NAME: section for section in SECTIONS}
        if root is not None and root.value is not None and not root.is_mapping:
            report(root.line, "(file)", "is not a mapping of sections", f"write sections: {', '.join(known)}")
        for name, node in root.items() if root is not None else ():
            section = known.get(name)
            if section is None:
                report(node.line, name, "is not a section", f"use one of {', '.join(known)}")
                continue
            if not node.is_mapping:
                report(node.line, name, "is not a mapping of settings", f"write e.g. {name}:\\n  <setting>: <value>")
                continue
            for key, value in node.items():
                if key not in section.model_fields:
                    report(value.line, f"{name}.{key}", "is not a setting",
                           f"use one of {', '.join(section.model_fields)}")
                    continue
                values.setdefault(name, {})[key] = _plain(value)
                lines[(name, key)] = value.line
        if problems:
            raise RuntimeConfigError("invalid config file:\n  " + "\n  ".join(problems))
        return cls(path=path, values=values, lines=lines)


def _plain(node: Node) -> Any:
    return node.plain()


@dataclass(frozen=True)
class RuntimeSettings:
    """The effective settings: one validated object per section, and each field's origin."""

    kafka: KafkaSettings
    connect: ConnectSettings
    dirs: DirectorySettings
    endpoints: EndpointSettings
    capture: CaptureSettings
    worker: WorkerSettings
    sink: SinkSettings
    warehouse: WarehouseSettings
    dashboard: DashboardSettings
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    config_file: Path | None = None

    def sections(self) -> list[Section]:
        return [getattr(self, section.NAME) for section in SECTIONS]

    @property
    def connector_variables(self) -> dict[str, str]:
        """The connector configs' placeholder values beneath an overlay's: ``capture.variables`` over the Kafka
        settings' (:func:`streams.config.capture.kafka_variables`), so ``{{kafka_bootstrap_servers}}`` is the
        configured Kafka's unless ``capture.variables`` names it."""
        return {**kafka_variables(self.kafka), **self.capture.variables}

    @classmethod
    def load(cls, env: Mapping[str, str], *, config_file: Path | None = None,
             stack: Layer | None = None) -> RuntimeSettings:
        """Validate every section from ``env``, the config file and the stack's offer (strongest first)."""
        read = ConfigFile.read(config_file) if config_file is not None else None
        built: dict[str, Section] = {}
        origins: dict[tuple[str, str], Origin] = {}
        problems: list[str] = []
        for section in SECTIONS:
            layers: list[tuple[Origin, Mapping[str, Any]]] = [
                ("stack", (stack or {}).get(section.NAME, {})),
                ("file", read.values.get(section.NAME, {}) if read else {}),
                ("env", section.from_environment(env)),
            ]
            values: dict[str, Any] = {}
            for origin, layer in layers:
                for key, value in layer.items():
                    values[key] = value
                    origins[(section.NAME, key)] = origin
            try:
                built[section.NAME] = section.model_validate(values)
            except ValidationError as exc:
                problems += [_problem(section, error, origins, read, env, values) for error in exc.errors()]
        if problems:
            raise RuntimeConfigError("invalid runtime settings:\n  " + "\n  ".join(problems))
        for section in SECTIONS:
            for name in section.model_fields:
                # a secret read from its ``<name>_file`` comes from where that path came from
                partner = origins.get((section.NAME, f"{name}_file"))
                origins.setdefault((section.NAME, name), partner or "default")
        return cls(origins=origins, config_file=config_file, **built)  # type: ignore[arg-type]


def _problem(section: type[Section], error: Any, origins: Mapping[tuple[str, str], Origin],
             read: ConfigFile | None, env: Mapping[str, str], values: Mapping[str, Any]) -> str:
    """One validation error as what, where and the fix (:func:`streams.config.section.problem`)."""
    name = str(error["loc"][0]) if error["loc"] else ""
    origin = origins.get((section.NAME, name))
    raw = env.get(section.env_name(name), "") if origin == "env" else values.get(name)
    where = None
    if origin == "file" and read is not None:
        where = f"{read.path}:{read.lines.get((section.NAME, name), 1)}"
    return problem(section, error, origin if name else None, raw, where)
