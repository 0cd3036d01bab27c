"""YAML read with the line of every node, so that a problem in any config file can say where: the one reader
of config files (read them with :func:`read_file`, or :func:`parse` and :func:`located` for plain data)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Node:
    """A YAML value with its 1-based line: scalars hold Python values, mappings ``dict[str, Node]``,
    sequences ``list[Node]``."""

    value: Any
    line: int
    #: The line of the key this value is under (None at the top and in sequences): a block mapping starts a
    #: line below its key, and a problem about ``key:`` should name the key's line.
    key_line: int | None = field(default=None, compare=False)

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, list)

    def get(self, key: str) -> Node | None:
        return self.value.get(key) if isinstance(self.value, dict) else None

    def items(self) -> Iterator[tuple[str, Node]]:
        return iter(self.value.items()) if isinstance(self.value, dict) else iter(())

    def plain(self) -> Any:
        """The value without line information."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


class DuplicateKey(ValueError):
    def __init__(self, key: str, line: int, first: int) -> None:
        super().__init__(f"key {key!r} appears twice (first on line {first})")
        self.key, self.line, self.first = key, line, first


_MERGE = "tag:yaml.org,2002:merge"


def _convert(node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Node] = {}
        merged: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:  # `<<: *anchor` (or a list of them): their keys, unless given here
                for key, value in _merged(value_node, constructor):
                    merged.setdefault(key, value)
                continue
            key = str(constructor.construct_object(key_node, deep=True))
            if key in mapping:
                raise DuplicateKey(key, key_node.start_mark.line + 1, mapping[key].key_line or mapping[key].line)
            mapping[key] = replace(_convert(value_node, constructor), key_line=key_node.start_mark.line + 1)
        for key, value in merged.items():
            mapping.setdefault(key, value)
        return Node(mapping, line)
    if isinstance(node, yaml.SequenceNode):
        return Node([_convert(item, constructor) for item in node.value], line)
    return Node(constructor.construct_object(node, deep=True), line)


def _merged(node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> Iterator[tuple[str, Node]]:
    """The keys a merge key brings in: of one mapping, or of each of a list of them (the first one's win)."""
    for source in node.value if isinstance(node, yaml.SequenceNode) else [node]:
        if not isinstance(source, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, "a merge key (<<) takes a mapping, or a list of "
                                                    "mappings", source.start_mark)
        yield from _convert(source, constructor).items()


def parse(text: str) -> Node:
    """Parse one YAML document; raises ``yaml.YAMLError`` or :class:`DuplicateKey` with a line."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return Node(None, 1)
    return _convert(root, yaml.constructor.SafeConstructor())


#: Where a config reader collects its problems: ``(line, field, message, fix)``.
Report = Callable[[int, str, str, str], None]


def read_file(path: Path, report: Report) -> Node | None:
    """One config file parsed with lines; a file that cannot be read, is not valid YAML or repeats a key is
    reported (with its line) and gives None. Every config reader (systems, mappings, flows, columns files, the
    warehouse's tables) reads its files through this."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        report(1, "(file)", f"cannot read it: {exc}", "check the path")
        return None
    try:
        return parse(text)
    except DuplicateKey as exc:
        report(exc.line, exc.key, str(exc), "keep one of them")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        report(mark.line + 1 if mark else 1, "(yaml)", f"not valid YAML: {getattr(exc, 'problem', exc)}",
               "fix the YAML syntax")
    return None


#: A path into a file's data: mapping keys and sequence indexes, e.g. ``("routes", 2, "method")``.
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, kw_only=True)
class Located:
    """A parsed file as plain data with the line of every path into it, for readers that walk plain values
    (the target loader and the adapters' section parsers) rather than :class:`Node` trees."""

    data: Any
    lines: dict[KeyPath, int]

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path`` (1-based), or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)


def located(root: Node) -> Located:
    """``root`` as plain data with the line of every key (the key's own line) and sequence item."""
    lines: dict[KeyPath, int] = {}
    _lines(root, (), lines)
    return Located(data=root.plain(), lines=lines)


def _lines(node: Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(path, node.line)
    for key, child in node.items():
        lines[(*path, key)] = child.key_line or child.line
        _lines(child, (*path, key), lines)
    if isinstance(node.value, list):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), lines)


def dotted(path: Sequence[str | int]) -> str:
    """``("routes", 2, "method")`` -> ``routes[2].method``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text
