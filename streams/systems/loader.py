"""Reading ``systems/*.yaml``: one file per system, every problem reported at once with file, line, field and fix.

A system file (``systems/README.md`` documents each field)::

    description: The reference ERP
    engine: mariadb                      # postgresql | mariadb | mysql
    connector: erp-source                # connect-configs/connectors/<connector>.yaml
    topics: {prefix: erp, namespace: erp}
    time_zone: Asia/Shanghai             # or {env: ISTHMUS_ERP_TIME_ZONE, default: Asia/Shanghai}
    writable: true                       # default false: a read-only system takes no commands
    target: targets/erp.yaml             # required when writable
    commit_time_precision: seconds       # seconds | milliseconds | microseconds; default: the engine's
    resync: [accounts, stock]            # master-data tables the daily re-sync reads again; default: none

A system Isthmus only writes into (a SaaS HTTP API with no database it can capture) says so instead of naming
its capture::

    capture: none                        # no engine, connector, topics or commit_time_precision then
    writable: true
    target: targets/clienthub.yaml

The system's name is the file's stem. Paths (``target``) and the connector's folder are relative to the
folder that holds ``systems/`` (the project for the built-in pair; ``examples/<name>/`` for an example).
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from streams.capture.configs import environments, load_overlay
from streams.capture.exceptions import ConfigError
from streams.capture.filters import FILTER_KEYS, CaptureFilter
from streams.config.paths import DATA_ROOT
from streams.config_files import located_yaml
from streams.config_files.located_yaml import Node
from streams.config_files.problem import Problem
from streams.systems.exceptions import SystemConfigError
from streams.systems.model import ENGINE_CLOCKS, ClockPrecision, Engine, Systems, SystemSpec, TopicNaming

SYSTEMS_DIR = DATA_ROOT / "systems"
#: Environment variable naming another folder of system files.
SYSTEMS_DIR_ENV = "ISTHMUS_SYSTEMS_DIR"
SUFFIXES = (".yaml", ".yml")
#: ``<name>.columns.yaml`` beside a system file is its columns file (streams.catalog), not a system.
COLUMNS_SUFFIX = ".columns.yaml"
KEYS = ("description", "engine", "connector", "topics", "time_zone", "writable", "target", "commit_time_precision",
        "resync", "capture")
#: The fields that say how a system is captured: all of them, or (``capture: none``) none of them.
CAPTURE_KEYS = ("engine", "connector", "topics", "commit_time_precision", "resync")
#: The one value of ``capture``: the system is written only, nothing of it is captured.
NO_CAPTURE = "none"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TOPIC_PART = re.compile(r"^[A-Za-z0-9_-]+$")


def systems_dir(env: Mapping[str, str] | None = None) -> Path:
    """``ISTHMUS_SYSTEMS_DIR`` if set, else the project's ``systems/``."""
    env = os.environ if env is None else env
    return Path(env[SYSTEMS_DIR_ENV]) if env.get(SYSTEMS_DIR_ENV) else SYSTEMS_DIR


def load_systems(directory: Path | None = None, *, env: Mapping[str, str] | None = None) -> Systems:
    """Every ``*.yaml`` of ``directory`` (default :func:`systems_dir`); raises :class:`SystemConfigError` with
    every problem of every file."""
    env = os.environ if env is None else env
    directory = systems_dir(env) if directory is None else directory
    if not directory.is_dir():
        raise SystemConfigError([Problem(file=directory, line=None, field="(folder)", message="no such folder",
                                         fix=f"create it with one <name>.yaml per system, or set {SYSTEMS_DIR_ENV}")])
    files = sorted(p for p in directory.iterdir()
                   if p.suffix in SUFFIXES and p.is_file() and not p.name.endswith(COLUMNS_SUFFIX))
    problems: list[Problem] = []
    found: dict[str, SystemSpec] = {}
    for path in files:
        reader = _SystemFile(path, base=directory.resolve().parent, env=env)
        spec = reader.read()
        problems += reader.problems
        if spec is not None:
            found[spec.name] = spec
    if not files:
        problems.append(Problem(file=directory, line=None, field="(folder)", message="declares no system",
                                fix="add one <name>.yaml per system (see systems/README.md)"))
    problems += _clashing_topics(found)
    if problems:
        raise SystemConfigError(problems)
    return Systems(found, directory=directory)


def _clashing_topics(found: Mapping[str, SystemSpec]) -> list[Problem]:
    """Two systems whose topics have one prefix and namespace could not be told apart by topic."""
    seen: dict[tuple[str, str], SystemSpec] = {}
    problems = []
    for spec in found.values():
        if spec.topics is None:
            continue  # a write-only system has no topics
        naming = (spec.topics.prefix, spec.topics.namespace)
        if naming in seen:
            problems.append(Problem(
                file=spec.path, line=None, field="topics",
                message=f"the same prefix and namespace as {seen[naming].path.name} ({'.'.join(naming)}.<table>)",
                fix="give each system's connector its own topic.prefix"))
        seen[naming] = spec
    return problems


class _SystemFile:
    """One file being read: the problems found so far, and each field's value once checked."""

    def __init__(self, path: Path, *, base: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.base = base
        self.env = env
        self.problems: list[Problem] = []

    def add(self, line: int, field: str, message: str, fix: str) -> None:
        self.problems.append(Problem(file=self.path, line=line, field=field, message=message, fix=fix))

    def read(self) -> SystemSpec | None:
        root = located_yaml.read_file(self.path, self.add)
        if root is None:
            return None
        if not root.is_mapping:
            self.add(root.line, "(file)", "a system file is a mapping of fields", f"write the fields {', '.join(KEYS)}")
            return None
        name = self.path.stem
        if not _NAME.match(name):
            self.add(1, "(file name)", f"{name!r} is not a system name: it names topics and commands",
                     "rename the file to lower-case letters, digits and _, starting with a letter (e.g. shop.yaml)")
        for key, node in root.items():
            if key not in KEYS:
                self.add(node.line, key, "unknown field", f"use one of: {', '.join(KEYS)}")
        description = root.get("description")
        write_only = self._write_only(root)
        if write_only is None:
            return None
        if write_only:
            return self._write_only_system(root, name, description)
        if all(root.get(key) is None for key in ("engine", "connector", "topics")):
            self.add(root.line, "engine", "no engine, connector or topics: how is the system captured?",
                     "declare engine, connector and topics (see systems/README.md), or write `capture: none` for a "
                     "system Isthmus only writes into (no database it can capture), with writable: true and a "
                     "target")
            return None
        engine = self._engine(root)
        connector = self._text(root, "connector", "the Kafka Connect connector that captures this system",
                               "connector: <name> of connect-configs/connectors/<name>.yaml")
        topics = self._topics(root)
        connector_file, capture = (self._check_connector(root, connector, topics, engine) if connector is not None
                                   else (None, None))
        time_zone = self._time_zone(root)
        writable, target = self._writable(root)
        clock = self._clock(root, engine)
        resync = self._resync(root, topics, capture)
        if None in (engine, connector, topics, time_zone) or self.problems:
            return None
        assert engine is not None and connector is not None and topics is not None and time_zone is not None
        return SystemSpec(name=name, path=self.path, engine=engine, connector=connector, topics=topics,
                          time_zone=time_zone, writable=writable, target=target, commit_time_precision=clock,
                          resync=resync,
                          description=str(description.value) if description and description.value else "",
                          connector_file=connector_file, capture=capture)

    def _write_only(self, root: Node) -> bool | None:
        """Does the file say ``capture: none``? None (with a problem) for any other value of ``capture``."""
        node = root.get("capture")
        if node is None:
            return False
        if node.value != NO_CAPTURE:
            self.add(node.line, "capture", f"unknown value {node.value!r}",
                     f"`capture: {NO_CAPTURE}` for a system Isthmus only writes into; leave `capture` out for a "
                     "captured one (engine, connector and topics say how)")
            return None
        return True

    def _write_only_system(self, root: Node, name: str, description: Node | None) -> SystemSpec | None:
        """A system with ``capture: none``: no capture field, and a target to write into."""
        capture_node = root.get("capture")
        assert capture_node is not None
        for key in CAPTURE_KEYS:
            node = root.get(key)
            if node is not None:
                self.add(node.line, key, f"a write-only system (capture: {NO_CAPTURE}) has no {key}",
                         f"remove {key}, or remove `capture: {NO_CAPTURE}` if a connector captures the system "
                         "(then engine, connector and topics are all required)")
        time_zone = self._time_zone(root)
        writable, target = self._writable(root)
        if not writable:
            self.add(capture_node.line, "capture", f"capture: {NO_CAPTURE}, and not writable: Isthmus would neither "
                     "read nor write the system", "add writable: true and target: targets/<file>.yaml, or declare "
                     "engine, connector and topics instead of capture: none")
        if time_zone is None or self.problems:
            return None
        return SystemSpec(name=name, path=self.path, engine=None, connector=None, topics=None, time_zone=time_zone,
                          writable=writable, target=target,
                          description=str(description.value) if description and description.value else "")

    def _text(self, root: Node, key: str, what: str, fix: str) -> str | None:
        node = root.get(key)
        if node is None or node.value in (None, ""):
            self.add(root.line, key, f"missing: {what}", fix)
            return None
        if not isinstance(node.value, str):
            self.add(node.line, key, f"must be text, got {node.value!r}", fix)
            return None
        return node.value

    def _engine(self, root: Node) -> Engine | None:
        choices = ", ".join(e.value for e in Engine)
        value = self._text(root, "engine", "the database engine", f"engine: one of {choices}")
        if value is None:
            return None
        try:
            return Engine(value.lower())
        except ValueError:
            engine_node = root.get("engine")
            self.add(engine_node.line if engine_node else root.line, "engine",
                     f"unknown engine {value!r}", f"use one of {choices}")
            return None

    def _clock(self, root: Node, engine: Engine | None) -> ClockPrecision | None:
        """``commit_time_precision``, else the engine's (MariaDB and MySQL: seconds; PostgreSQL: microseconds)."""
        choices = ", ".join(c.value for c in ClockPrecision)
        node = root.get("commit_time_precision")
        if node is None:
            return ENGINE_CLOCKS[engine] if engine is not None else None
        try:
            return ClockPrecision(node.value)
        except ValueError:
            self.add(node.line, "commit_time_precision", f"unknown precision {node.value!r}",
                     f"commit_time_precision: one of {choices} (how finely the change events' commit times are "
                     "kept), or leave it out for the engine's")
            return None

    def _topics(self, root: Node) -> TopicNaming | None:
        node = root.get("topics")
        fix = "topics: {prefix: <the connector's topic.prefix>, namespace: <schema or database>}"
        if node is None or not node.is_mapping:
            self.add(node.line if node else root.line, "topics", "missing: how the system's topics are named", fix)
            return None
        parts: dict[str, str] = {}
        for key, sub in node.items():
            if key not in ("prefix", "namespace"):
                self.add(sub.line, f"topics.{key}", "unknown field", "use prefix and namespace")
        for part in ("prefix", "namespace"):
            given = node.get(part)
            if given is None:
                self.add(node.line, f"topics.{part}", "missing", fix)
            elif not isinstance(given.value, str) or not _TOPIC_PART.match(given.value):
                self.add(given.line, f"topics.{part}", f"{given.value!r} is not a topic name part",
                         f"letters, digits, _ and -; {fix}")
            else:
                parts[part] = given.value
        return TopicNaming(**parts) if len(parts) == 2 else None

    def _check_connector(self, root: Node, connector: str, topics: TopicNaming | None,
                         engine: Engine | None) -> tuple[Path | None, CaptureFilter | None]:
        """The connector's file exists, and its ``topic.prefix`` (when literal) is the one declared here; the file
        and the tables it captures (None when not known exactly)."""
        connector_node = root.get("connector")
        line = connector_node.line if connector_node else root.line
        folder = self.base / "connect-configs" / "connectors"
        path = next((folder / f"{connector}{s}" for s in SUFFIXES if (folder / f"{connector}{s}").is_file()), None)
        if path is None:
            self.add(line, "connector", f"no connector file {connector}.yaml in {folder}",
                     f"add {folder / (connector + '.yaml')} or name an existing connector")
            return None, None
        try:
            config = (located_yaml.parse(path.read_text(encoding="utf-8")).plain() or {}).get("config") or {}
        except (yaml.YAMLError, located_yaml.DuplicateKey, AttributeError):
            return path, None  # `isthmus connectors validate` reports a broken connector file
        if not isinstance(config, dict):
            return path, None
        prefix = config.get("topic.prefix")
        if topics is not None and isinstance(prefix, str) and "{{" not in prefix and prefix != topics.prefix:
            topics_node = root.get("topics")
            self.add(topics_node.line if topics_node else line, "topics.prefix",
                     f"{topics.prefix!r}, but {path.name} sets topic.prefix {prefix!r}",
                     f"write prefix: {prefix} (the topics are named by the connector)")
        if engine is None or self._overlays_filter(connector):
            return path, None
        return path, CaptureFilter.of(config, engine.value)

    def _overlays_filter(self, connector: str) -> bool:
        """Does an environment's overlay (``connect-configs/overlays/``) change which tables ``connector``
        captures? Then the connector file alone does not say (nor does a broken overlay)."""
        root = self.base / "connect-configs"
        for env in environments(root):
            try:
                options = load_overlay(root, env).connectors.get(connector, {})
            except ConfigError:
                return True
            if any(key in options for key in FILTER_KEYS):
                return True
        return False

    def _resync(self, root: Node, topics: TopicNaming | None, capture: CaptureFilter | None) -> tuple[str, ...]:
        """The tables of ``resync``: names of the system's namespace, each one its connector captures."""
        node = root.get("resync")
        if node is None or node.value is None:
            return ()
        fix = "resync: [<table>, ...], the master-data tables of the system's namespace, e.g. resync: [customers]"
        if not node.is_sequence:
            self.add(node.line, "resync", f"must be a list of tables, got {node.value!r}", fix)
            return ()
        tables: list[str] = []
        for item in node.value:
            if not isinstance(item.value, str) or not _TOPIC_PART.match(item.value):
                self.add(item.line, "resync", f"{item.value!r} is not a table name", fix)
            elif topics is not None and capture is not None and not capture.captures(topics.namespace, item.value):
                self.add(item.line, "resync", f"the connector does not capture {topics.namespace}.{item.value}",
                         "add the table to the connector's table.include.list, or remove it from resync")
            elif item.value not in tables:
                tables.append(item.value)
        return tuple(tables)

    def _time_zone(self, root: Node) -> str | None:
        node = root.get("time_zone")
        fix = "time_zone: an IANA zone such as UTC or Europe/Berlin, or {env: VARIABLE, default: <zone>}"
        if node is None:
            return "UTC"
        value: Any = node.value
        if node.is_mapping:
            env_node, default_node = node.get("env"), node.get("default")
            unknown = sorted(set(node.value) - {"env", "default"})
            if unknown or env_node is None or not isinstance(env_node.value, str):
                self.add(node.line, "time_zone", "a zone from the environment needs `env` (and may have `default`)",
                         fix)
                return None
            value = self.env.get(env_node.value) or (default_node.value if default_node else None)
            if value is None:
                self.add(node.line, "time_zone", f"{env_node.value} is not set and there is no default",
                         f"set {env_node.value}, or add default: <zone>")
                return None
        if not isinstance(value, str):
            self.add(node.line, "time_zone", f"must be a zone name, got {value!r}", fix)
            return None
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.add(node.line, "time_zone", f"unknown time zone {value!r}", fix)
            return None
        return value

    def _writable(self, root: Node) -> tuple[bool, Path | None]:
        node, target_node = root.get("writable"), root.get("target")
        writable = False
        if node is not None:
            if not isinstance(node.value, bool):
                self.add(node.line, "writable", f"must be true or false, got {node.value!r}",
                         "writable: true for a system that takes commands, false for one only read")
            else:
                writable = node.value
        if target_node is None:
            if writable:
                self.add(node.line if node else root.line, "target", "a writable system needs a target",
                         "target: targets/<file>.yaml (how commands reach its API), or writable: false")
            return writable, None
        if not writable:
            self.add(target_node.line, "target", "a read-only system takes no commands",
                     "remove target, or set writable: true")
            return writable, None
        if not isinstance(target_node.value, str):
            self.add(target_node.line, "target", f"must be a path, got {target_node.value!r}",
                     "target: targets/<file>.yaml")
            return writable, None
        path = self.base / target_node.value
        if not path.is_file():
            self.add(target_node.line, "target", f"no file {path}",
                     f"write the target file, or fix the path (relative to {self.base})")
        return writable, path
