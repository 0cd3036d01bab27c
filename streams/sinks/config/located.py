"""YAML with the line of every key, so a problem names the line it is about."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass(frozen=True, kw_only=True)
class Located:
    data: Any
    lines: dict[Path, int]

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path`` (1-based), or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def load_located(text: str) -> Located:
    """Parse one YAML document; raises ``yaml.YAMLError`` (with its mark) when it is not valid YAML."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Located(data=None, lines={})
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    lines: dict[Path, int] = {}
    _walk(node, (), lines)
    return Located(data=data, lines=lines)


def dotted(path: Sequence[str | int]) -> str:
    """``("routes", 2, "method")`` -> ``routes[2].method``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text
