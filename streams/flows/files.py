"""Flow files (``flows/*.yaml``): which built-in flows a deployment runs, each one a building block configured
by data. A file names the flow, the block that runs it, and the block's own section::

    name: isthmus-stock                  # the flow's name: ISTHMUS_WORKER_FLOWS, consumer group, transactional ids
    block: derived                       # one of BLOCKS
    description: ERP stock to the CRM's product availability
    derived:                             # the block's section, checked by the block when the flow is built
      mapping: product_availability
      ...

The common part is checked here, every problem of every file at once (file, line, field, fix); a block
checks its section with :class:`Section`, which reports the same way. A section that names a mapping file
the mappings folder lacks makes the flow unavailable (:class:`~streams.flows.exceptions.FlowUnavailable`):
the worker leaves it out, says why once, and runs the others.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.config.paths import DATA_ROOT
from streams.config_files import located_yaml
from streams.config_files.located_yaml import Node
from streams.config_files.problem import Problem
from streams.flows.exceptions import FlowFileError, FlowUnavailable
from streams.mapping.spec import RecordMapping

FLOWS_DIR = DATA_ROOT / "flows"
#: Environment variable naming another folder of flow files.
FLOWS_DIR_ENV = "ISTHMUS_FLOWS_DIR"
SUFFIXES = (".yaml", ".yml")
#: Each building block and the ``module:function`` that builds a flow of it from its file.
BLOCKS: Mapping[str, str] = {
    "entity": "streams.flows.customers:build_customer_flow",
    "document": "streams.flows.orders:build",
    "derived": "streams.flows.stock:build",
    "publish": "streams.flows.canonical:build",
    "view": "streams.flows.view:build",
}
COMMON_KEYS = ("name", "block", "description")
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True, kw_only=True)
class FlowFile:
    """One flow file: the flow's name, its block, and the block's section (with lines, for the block's checks)."""

    name: str
    block: str
    path: Path
    description: str = ""
    section: Node = field(default_factory=lambda: Node({}, 0))

    def __repr__(self) -> str:
        return f"FlowFile(name={self.name!r}, block={self.block!r}, path={str(self.path)!r})"


def flows_dir(env: Mapping[str, str] | None = None) -> Path:
    """``ISTHMUS_FLOWS_DIR`` if set, else the project's ``flows/``."""
    env = os.environ if env is None else env
    return Path(env[FLOWS_DIR_ENV]) if env.get(FLOWS_DIR_ENV) else FLOWS_DIR


def load_flow_files(directory: Path | None = None, *, env: Mapping[str, str] | None = None) -> list[FlowFile]:
    """Every flow file of ``directory`` (default :func:`flows_dir`), in file-name order; raises
    :class:`FlowFileError` with every problem of every file. A folder that does not exist declares no flow."""
    directory = flows_dir(env) if directory is None else directory
    if not directory.is_dir():
        return []
    problems: list[Problem] = []
    found: list[FlowFile] = []
    for path in sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file()):
        flow, file_problems = _read(path)
        problems += file_problems
        if flow is not None:
            found.append(flow)
    seen: dict[str, FlowFile] = {}
    for flow in found:
        if flow.name in seen:
            problems.append(Problem(file=flow.path, line=1, field="name",
                                    message=f"{flow.name!r} is also the name of {seen[flow.name].path.name}",
                                    fix="give every flow a name of its own"))
        seen[flow.name] = flow
    if problems:
        raise FlowFileError(problems)
    return found


def _read(path: Path) -> tuple[FlowFile | None, list[Problem]]:
    problems: list[Problem] = []

    def add(line: int, where: str, message: str, fix: str) -> None:
        problems.append(Problem(file=path, line=line, field=where, message=message, fix=fix))

    root = located_yaml.read_file(path, add)
    if root is None:
        return None, problems
    if not root.is_mapping:
        add(root.line, "(file)", "a flow file is a mapping", "write `name:`, `block:` and the block's section")
        return None, problems
    name_node, block_node = root.get("name"), root.get("block")
    name = name_node.value if name_node is not None else None
    if not isinstance(name, str) or not _NAME.match(name):
        add(name_node.line if name_node else root.line, "name",
            "missing" if name is None else f"{name!r} is not a flow name",
            "name: lower-case letters, digits and '-', starting with a letter (e.g. isthmus-stock)")
    block = block_node.value if block_node is not None else None
    if block not in BLOCKS:
        sections = [key for key in root.value if key in BLOCKS]
        given = f"block: {sections[0]} (the file's section is {sections[0]}:), or " if len(sections) == 1 else "block: "
        add(block_node.line if block_node else root.line, "block",
            "missing" if block is None else f"unknown block {block!r}", f"{given}one of {', '.join(BLOCKS)}")
    for key, node in root.items():
        if key not in (*COMMON_KEYS, *BLOCKS):
            add(node.line, key, "unknown key", f"use {', '.join(COMMON_KEYS)} and the block's section")
        elif key in BLOCKS and key != block and block in BLOCKS:  # an unknown block is said once, above
            add(node.line, key, f"a section for block {key!r} in a flow of block {block!r}",
                f"rename the section to {block!r}, or set block: {key}")
    if problems:
        return None, problems
    section = root.get(str(block)) or Node({}, root.line)
    if not section.is_mapping:
        add(section.line, str(block), "the block's section is a mapping", f"write `{block}:` followed by its keys")
        return None, problems
    description = root.get("description")
    return FlowFile(name=str(name), block=str(block), path=path, section=section,
                    description=str(description.value) if description and description.value else ""), problems


class Section:
    """Reads a block's section of a flow file, collecting problems with line, field and fix; :meth:`done`
    raises them all at once. A block builds its config from it::

        section = Section(flow)
        mapping = section.mapping("mapping", context.mappings)
        field = section.text("field")
        section.done()
    """

    def __init__(self, flow: FlowFile, node: Node | None = None, where: str | None = None) -> None:
        self.flow = flow
        self.node = flow.section if node is None else node
        self.where = flow.block if where is None else where
        self.problems: list[Problem] = []
        self.missing: list[str] = []
        #: The same as problems, each with its fix, for ``isthmus mappings validate``.
        self.absent: list[Problem] = []

    def add(self, line: int, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(file=self.flow.path, line=line, field=f"{self.where}.{key}",
                                     message=message, fix=fix))

    def get(self, key: str) -> Node | None:
        return self.node.get(key)

    def line(self, key: str) -> int:
        found = self.node.get(key)
        return found.line if found is not None else self.node.line

    def only(self, keys: Iterable[str]) -> None:
        """Refuse keys other than ``keys``."""
        allowed = tuple(keys)
        for key, node in self.node.items():
            if key not in allowed:
                self.add(node.line, key, "unknown key", f"use {', '.join(allowed)}")

    def text(self, key: str, *, default: str | None = None, fix: str = "") -> str:
        """A required (or defaulted) text value; a problem and ``""`` when it is missing or not text."""
        node = self.node.get(key)
        if node is None or node.value in (None, ""):
            if default is not None:
                return default
            self.add(self.node.line, key, "missing", fix or f"add `{key}: <value>`")
            return ""
        if not isinstance(node.value, str):
            self.add(node.line, key, f"must be text, got {node.value!r}", fix or f"write `{key}: <text>`")
            return ""
        return node.value

    def texts(self, key: str, *, default: tuple[str, ...] = (), fix: str = "") -> tuple[str, ...]:
        """A list of text values (one text is a list of one)."""
        node = self.node.get(key)
        if node is None:
            return default
        values = node.plain()
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            self.add(node.line, key, "must be a list of text", fix or f"write `{key}: [a, b]`")
            return default
        return tuple(values)

    def flag(self, key: str, *, default: bool) -> bool:
        node = self.node.get(key)
        if node is None:
            return default
        if not isinstance(node.value, bool):
            self.add(node.line, key, f"must be true or false, got {node.value!r}", f"write `{key}: true`")
            return default
        return node.value

    def whole(self, key: str, *, default: int, least: int = 1) -> int:
        """A whole number of at least ``least`` (``default`` when the key is left out)."""
        node = self.node.get(key)
        if node is None:
            return default
        if isinstance(node.value, bool) or not isinstance(node.value, int) or node.value < least:
            self.add(node.line, key, f"must be a whole number of at least {least}, got {node.value!r}",
                     f"write `{key}: {default}` (the default), or leave it out")
            return default
        return node.value

    def choice(self, key: str, choices: Iterable[str], *, default: str | None = None) -> str:
        allowed = tuple(choices)
        value = self.text(key, default=default, fix=f"`{key}:` one of {', '.join(allowed)}")
        if value and value not in allowed:
            self.add(self.line(key), key, f"{value!r} is not one of {', '.join(allowed)}",
                     f"`{key}:` one of {', '.join(allowed)}")
            return allowed[0]
        return value

    def section(self, key: str, *, required: bool = True) -> Section | None:
        """A nested mapping, read with the same file and problems (``<where>.<key>.<inner>`` in messages)."""
        node = self.node.get(key)
        if node is None:
            if required:
                self.add(self.node.line, key, "missing", f"add `{key}:` with its keys")
            return None
        if not node.is_mapping:
            self.add(node.line, key, "must be a mapping", f"write `{key}:` followed by its keys")
            return None
        inner = Section(self.flow, node, f"{self.where}.{key}")
        inner.problems = self.problems
        inner.missing = self.missing
        inner.absent = self.absent
        return inner

    def mapping(self, key: str, mappings: Mapping[str, RecordMapping], *,
                required: bool = True) -> RecordMapping | None:
        """A mapping file named by its stem (``customer`` for mappings/customer.yaml). One the mappings folder
        lacks makes the flow unavailable (see :meth:`done`), not wrong."""
        stem = self.text(key, default=None if required else "", fix=f"`{key}: <mapping file stem>`")
        if not stem:
            return None
        found = mappings.get(stem)
        if found is None:
            self.lacks(stem, key, mappings)
        return found

    def lacks(self, stem: str, key: str, mappings: Mapping[str, RecordMapping]) -> None:
        """Note that mapping file ``stem``, named at ``key``, is not among ``mappings``: the flow is unavailable
        (see :meth:`done`), with the closest stem there as the likely fix."""
        line = self.line(key)
        self.missing.append(f"{stem}.yaml ({self.flow.path.name}:{line} {self.where}.{key})")
        close = difflib.get_close_matches(stem, list(mappings), n=1, cutoff=0.75)
        self.absent.append(Problem(
            file=self.flow.path, line=line, field=f"{self.where}.{key}",
            message=f"names mapping file {stem}.yaml, which the mappings folder lacks: the flow cannot be built",
            fix=(f"name {close[0]} if that is the file meant, or add" if close else "add")
            + f" {stem}.yaml to the mappings folder (ISTHMUS_MAPPINGS_DIR, default mappings/), or remove the flow "
            "file"))

    def done(self) -> None:
        """Raise what was found: :class:`FlowFileError` for problems, else :class:`FlowUnavailable` for mapping
        files the mappings folder lacks."""
        if self.problems:
            raise FlowFileError(self.problems)
        if self.missing:
            raise FlowUnavailable(f"{self.flow.name} needs mappings/{', mappings/'.join(self.missing)}",
                                  self.absent)


def plain(node: Node | None) -> Any:
    """A node's value without lines (None for no node)."""
    return None if node is None else node.plain()
