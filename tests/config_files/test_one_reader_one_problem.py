"""Every config file is read by one located-YAML reader and refused with one Problem type: a second reader or
Problem dataclass in streams/ fails here, so file, line and field keep reading alike in every refusal."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

from streams.stack.settings import PROJECT_ROOT

STREAMS = PROJECT_ROOT / "streams"
READER = STREAMS / "config_files" / "located_yaml.py"
PROBLEM = STREAMS / "config_files" / "problem.py"

#: What reading YAML with lines takes: PyYAML's node graph (``yaml.compose``, ``yaml.MappingNode``) and the
#: marks of its nodes (a YAMLError's ``problem_mark`` only says where a syntax error is, and is allowed).
YAML_NAMES = frozenset({"compose", "compose_all", "Node", "MappingNode", "SequenceNode", "ScalarNode",
                        "CollectionNode"})
NODE_ATTRIBUTES = frozenset({"start_mark", "end_mark", "get_single_node", "compose_node"})


def _is_dataclass(node: ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "dataclass":
            return True
    return False


def _fields(node: ast.ClassDef) -> set[str]:
    return {item.target.id for item in node.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)}


def problem_types(tree: ast.AST) -> list[str]:
    """Dataclasses that describe a config problem: named ``*Problem`` or holding a ``fix``."""
    return [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and _is_dataclass(node)
            and (node.name.endswith("Problem") or "fix" in _fields(node))]


def _reads_nodes(node: ast.Attribute) -> bool:
    on_yaml = isinstance(node.value, ast.Name) and node.value.id == "yaml"
    return node.attr in NODE_ATTRIBUTES or (on_yaml and node.attr in YAML_NAMES)


def yaml_node_uses(tree: ast.AST) -> list[str]:
    """Uses of PyYAML's nodes and marks: ``yaml.compose(...)``, ``node.start_mark``, ``yaml.MappingNode``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _reads_nodes(node):
            found.append(f"{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("yaml"):
            found += [f"{a.name} (line {node.lineno})" for a in node.names
                      if a.name in YAML_NAMES | NODE_ATTRIBUTES]
    return found


def scan(check: Callable[[ast.AST], list[str]], allowed: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(STREAMS.rglob("*.py")):
        if path == allowed:
            continue
        hits = check(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if hits:
            found[str(path.relative_to(PROJECT_ROOT))] = hits
    return found


def test_only_streams_config_files_reads_yaml_with_lines() -> None:
    assert scan(yaml_node_uses, READER) == {}, "read config files with streams.config_files.located_yaml"


def test_only_streams_config_files_defines_a_problem() -> None:
    assert scan(problem_types, PROBLEM) == {}, "report config problems as streams.config_files.problem.Problem"
    assert problem_types(ast.parse(PROBLEM.read_text(encoding="utf-8"))) == ["Problem"]


def test_the_scan_sees_a_second_reader_and_a_second_problem() -> None:
    reader = ast.parse("import yaml\n\ndef lines(text):\n    node = yaml.compose(text)\n"
                       "    return {k.value: k.start_mark.line for k, _ in node.value}\n")
    from_import = ast.parse("from yaml import MappingNode\n")
    problem = ast.parse("from dataclasses import dataclass\n\n@dataclass(frozen=True)\nclass Issue:\n"
                        "    file: str\n    fix: str\n\n@dataclass\nclass TargetProblem:\n    where: str\n")
    assert yaml_node_uses(reader) == ["compose (line 4)", "start_mark (line 5)"]
    assert yaml_node_uses(from_import) == ["MappingNode (line 1)"]
    assert problem_types(problem) == ["Issue", "TargetProblem"]
