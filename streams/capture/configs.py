"""Connector config files, environment overlays, and our ``{{name}}`` placeholders.

Layout (see ``connect-configs/README.md``)::

    connect-configs/connectors/<name>.yaml   name: <name>, config: {<Connect option>: <value>}
    connect-configs/overlays/<env>.yaml      variables: {...}, connectors: {<name>: {<option>: <value>|null}}

A connector's config is its file, then the overlay's entries for it (``null`` removes a key). Values are
rendered to the strings Connect expects: booleans as ``true``/``false``, lists joined with commas, and
``{{name}}`` replaced from the runtime settings' ``capture.variables`` (streams/config/capture.py; the local
stack offers its hosts, ports and secrets file there) and the overlay's ``variables`` (which win and may
themselves use the others). Kafka Connect's own ``${provider:...}`` references are left as they are: Connect
resolves them, so secrets never pass through Isthmus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streams.capture.exceptions import ConfigError
from streams.config.paths import DATA_ROOT
from streams.config_files import located_yaml
from streams.config_files.problem import Problem, shown

DEFAULT_ROOT = DATA_ROOT / "connect-configs"
CONNECTORS_DIR = "connectors"
OVERLAYS_DIR = "overlays"
SUFFIXES = (".yaml", ".yml")

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONNECTOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, kw_only=True)
class ConnectorFile:
    path: Path
    name: str
    config: dict[str, Any]
    #: The line of each config key in the file.
    lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Overlay:
    env: str
    path: Path
    variables: dict[str, Any]
    connectors: dict[str, dict[str, Any]]
    #: The line of each variable (``variables.<name>``) and connector option (``<connector>.<key>``) in the file.
    lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LocalConnector:
    """A connector as it would be deployed: rendered strings, and the file each key came from."""

    name: str
    path: Path
    env: str
    config: dict[str, str]
    sources: dict[str, Path]
    problems: tuple[Problem, ...] = field(default=())
    #: The line of each key in the file it came from (:meth:`source_of`).
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")

    def source_of(self, key: str) -> Path:
        return self.sources.get(key, self.path)

    def line_of(self, key: str) -> int | None:
        return self.lines.get(key)


@dataclass(frozen=True, kw_only=True)
class ConfigSet:
    """Every connector file under a root, with one environment's overlay."""

    root: Path
    overlay: Overlay
    files: dict[str, ConnectorFile]

    @property
    def names(self) -> list[str]:
        return sorted(self.files)

    def select(self, names: Sequence[str]) -> list[str]:
        """The given names (all when empty), each checked to have a file."""
        unknown = [n for n in names if n not in self.files]
        if unknown:
            raise ConfigError(
                f"no connector file for {', '.join(map(repr, unknown))} in "
                f"{shown(self.root / CONNECTORS_DIR)}; "
                f"known: {', '.join(self.names) or '(none)'}; add <name>.yaml there or check the spelling")
        return list(dict.fromkeys(names)) if names else self.names

    def render(self, name: str, base: Mapping[str, str]) -> LocalConnector:
        return render(self.files[name], self.overlay, base)


def load(root: Path = DEFAULT_ROOT, *, env: str) -> ConfigSet:
    folder = root / CONNECTORS_DIR
    if not folder.is_dir():
        raise ConfigError(f"{shown(folder)} does not exist; pass the connect-configs folder with --configs")
    files: dict[str, ConnectorFile] = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES):
        connector = _load_connector(path)
        if connector.name in files:
            raise ConfigError(f"{shown(path)}: name: {connector.name!r} is also defined in "
                              f"{shown(files[connector.name].path)}; fix: keep one file per connector")
        files[connector.name] = connector
    overlay = load_overlay(root, env)
    for name in overlay.connectors:
        if name not in files:
            raise ConfigError(f"{shown(overlay.path)}: connectors.{name}: no connector file {name}.yaml in "
                              f"{shown(folder)}; fix: remove the entry or use one of "
                              f"{', '.join(sorted(files))}")
    return ConfigSet(root=root, overlay=overlay, files=files)


def connector_names(root: Path = DEFAULT_ROOT) -> list[str]:
    """The names of the connectors a configs folder holds (each file's name is its connector's: :func:`load` checks
    it), without reading an overlay; none when the folder has no ``connectors/``."""
    folder = root / CONNECTORS_DIR
    return sorted(p.stem for p in folder.iterdir() if p.suffix in SUFFIXES) if folder.is_dir() else []


def environments(root: Path = DEFAULT_ROOT) -> list[str]:
    folder = root / OVERLAYS_DIR
    return sorted(p.stem for p in folder.iterdir() if p.suffix in SUFFIXES) if folder.is_dir() else []


def resolve_variables(overlay: Overlay, base: Mapping[str, str],
                      problems: list[Problem]) -> dict[str, str]:
    """The placeholders' values: ``base`` (``capture.variables``), then the overlay's ``variables`` (which may
    use ``base``'s)."""
    variables = dict(base)
    for name, raw in overlay.variables.items():
        key = f"variables.{name}"
        text = _scalar(raw, overlay.path, key, problems, overlay.lines.get(key))
        if text is not None:
            variables[name] = _substitute(text, base, overlay.path, key, overlay, problems, overlay.lines.get(key))
    return variables


def render(connector: ConnectorFile, overlay: Overlay, base: Mapping[str, str]) -> LocalConnector:
    problems: list[Problem] = []
    variables = resolve_variables(overlay, base, problems)

    merged: dict[str, Any] = dict(connector.config)
    sources = dict.fromkeys(connector.config, connector.path)
    lines = dict(connector.lines)
    for key, value in overlay.connectors.get(connector.name, {}).items():
        lines.pop(key, None)
        if value is None:
            merged.pop(key, None)
            sources.pop(key, None)
        else:
            merged[key] = value
            sources[key] = overlay.path
            if f"{connector.name}.{key}" in overlay.lines:
                lines[key] = overlay.lines[f"{connector.name}.{key}"]

    config: dict[str, str] = {}
    for key, raw in merged.items():
        text = _scalar(raw, sources[key], key, problems, lines.get(key))
        if text is not None:
            config[key] = _substitute(text, variables, sources[key], key, overlay, problems, lines.get(key))
    config["name"] = connector.name
    sources.setdefault("name", connector.path)
    return LocalConnector(name=connector.name, path=connector.path, env=overlay.env, config=config,
                          sources=sources, problems=tuple(problems), lines=lines)


def _scalar(raw: Any, path: Path, key: str, problems: list[Problem], line: int | None = None) -> str | None:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float | str):
        return str(raw)
    if isinstance(raw, list) and all(isinstance(i, str | int) and not isinstance(i, bool) for i in raw):
        return ",".join(str(item) for item in raw)
    problems.append(Problem(file=path, line=line, field=key,
                            message=f"a {type(raw).__name__} is not a config value",
                            fix="write a string, number, true/false, or a list of strings"))
    return None


def _substitute(text: str, variables: Mapping[str, str], path: Path, key: str, overlay: Overlay,
                problems: list[Problem], line: int | None = None) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if _NAME.match(name) and name in variables:
            return variables[name]
        problems.append(Problem(
            file=path, line=line, field=key, message=f"placeholder {match.group(0)} is not defined",
            fix=f"define `{name}` under `variables:` in {shown(overlay.path)} or in ISTHMUS_CAPTURE_VARIABLES, or use "
                "one of: "
                + ", ".join(sorted(variables))))
        return match.group(0)

    return _PLACEHOLDER.sub(replace, text)


def _read_yaml(path: Path) -> located_yaml.Node:
    try:
        return located_yaml.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{shown(path)}: cannot be read ({exc.strerror}); fix: check that it exists "
                          "and is readable") from exc
    except located_yaml.DuplicateKey as exc:
        raise ConfigError(str(Problem(file=path, line=exc.line, field=exc.key, message=str(exc),
                                      fix="keep one of them"))) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{shown(path)}: is not valid YAML{where} ({getattr(exc, 'problem', exc)}); "
                          "fix: correct the syntax there") from exc


def _load_connector(path: Path) -> ConnectorFile:
    node = _read_yaml(path)
    document = node.plain()
    if not isinstance(document, dict):
        raise ConfigError(f"{shown(path)}: must be a mapping with `name:` and `config:`; fix: see "
                          "connect-configs/README.md")
    unknown = sorted(set(document) - {"name", "config"})
    if unknown:
        raise ConfigError(f"{shown(path)}: {', '.join(map(str, unknown))}: not a connector file key; "
                          "fix: put Connect options under `config:`")
    name = document.get("name")
    if not isinstance(name, str) or not _CONNECTOR_NAME.match(name):
        raise ConfigError(f"{shown(path)}: name: {name!r} is not a connector name; fix: set `name: "
                          f"{path.stem}` (letters, digits, '.', '_' and '-')")
    if name != path.stem:
        raise ConfigError(f"{shown(path)}: name: {name!r} differs from the file name; fix: rename the file "
                          f"to {name}{path.suffix} or set `name: {path.stem}`")
    config = document.get("config")
    if not isinstance(config, dict) or not config:
        raise ConfigError(f"{shown(path)}: config: must be a mapping of Connect options; fix: add them "
                          "under `config:`")
    if "name" in config and config["name"] != name:
        raise ConfigError(f"{shown(path)}: config.name: {config['name']!r} differs from `name: {name}`; "
                          "fix: remove config.name (the file's name is used)")
    config_node = node.get("config")
    lines = {key: item.line for key, item in config_node.items()} if config_node is not None else {}
    return ConnectorFile(path=path, name=name, config={k: v for k, v in config.items() if k != "name"}, lines=lines)


def load_overlay(root: Path, env: str) -> Overlay:
    """The overlay of environment ``env`` under ``root``; raises :class:`ConfigError` naming what is wrong."""
    folder = root / OVERLAYS_DIR
    path = next((folder / f"{env}{s}" for s in SUFFIXES if (folder / f"{env}{s}").is_file()), None)
    if path is None:
        known = environments(root)
        raise ConfigError(f"{shown(folder)}: no overlay for environment {env!r}; fix: use "
                          f"--env {' or '.join(known) if known else '<env>'} or add {env}.yaml there")
    node = _read_yaml(path)
    document = node.plain() or {}
    if not isinstance(document, dict):
        raise ConfigError(f"{shown(path)}: must be a mapping with `variables:` and/or `connectors:`")
    unknown = sorted(set(document) - {"variables", "connectors"})
    if unknown:
        raise ConfigError(f"{shown(path)}: {', '.join(map(str, unknown))}: not an overlay key; fix: use "
                          "`variables:` for placeholders and `connectors: {<name>: {...}}` for options")
    variables = document.get("variables") or {}
    connectors = document.get("connectors") or {}
    if not isinstance(variables, dict):
        raise ConfigError(f"{shown(path)}: variables: must be a mapping of name: value")
    for name in variables:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{shown(path)}: variables.{name}: not a placeholder name; fix: use letters, "
                              "digits and '_', starting with a letter")
    if not isinstance(connectors, dict) or not all(isinstance(v, dict) for v in connectors.values()):
        raise ConfigError(f"{shown(path)}: connectors: must map connector names to mappings of options")
    lines: dict[str, int] = {}
    for section, prefix in (("variables", "variables."), ("connectors", "")):
        section_node = node.get(section) if node.is_mapping else None
        for name, item in section_node.items() if section_node is not None and section_node.is_mapping else ():
            if prefix:
                lines[f"{prefix}{name}"] = item.line
            elif item.is_mapping:
                lines.update({f"{name}.{key}": option.line for key, option in item.items()})
    return Overlay(env=env, path=path, lines=lines, variables=variables,
                   connectors={str(k): dict(v) for k, v in connectors.items()})
