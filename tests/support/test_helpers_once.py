"""Each test helper is written once: waits live in ``support.waiting``, topic readers and flow runners in
``support``. A function named like a wait (``wait*``, ``eventually*``, ``until*``, with or without a leading
underscore) defined anywhere else under ``tests/``, or a helper module copied into two test folders, fails here,
so a second hand-written deadline loop does not creep back. Methods are a class's own API and not checked."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = TESTS / "support"
WAIT_NAME = re.compile(r"^_*(wait|eventually|until)", re.IGNORECASE)


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module-level functions and the functions nested in them (not methods)."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node)
            pending.extend(node.body)
    return found


def wait_helpers_outside_support(root: Path) -> list[str]:
    """``file:line name`` of each wait-like function under ``root`` outside ``root/support``."""
    return [f"{path.relative_to(root)}:{function.lineno} {function.name}"
            for path in sorted(root.rglob("*.py")) if (root / "support") not in path.parents
            for function in _functions(ast.parse(path.read_text(), str(path))) if WAIT_NAME.match(function.name)]


def helper_modules_twice(root: Path) -> list[str]:
    """Helper modules (not tests, not conftest) whose name is in two folders: imported by bare name, the first
    on the path would shadow the other."""
    folders: dict[str, list[str]] = defaultdict(list)
    for path in root.rglob("*.py"):
        if not path.name.startswith("test_") and path.name not in ("conftest.py", "__init__.py"):
            folders[path.name].append(str(path.parent.relative_to(root)))
    return sorted(f"{name} in {', '.join(sorted(where))}" for name, where in folders.items() if len(where) > 1)


def test_no_wait_helper_is_written_outside_support() -> None:
    found = wait_helpers_outside_support(TESTS)
    assert not found, "use support.waiting.eventually (or quiet) instead of a wait of its own:\n" + "\n".join(found)


def test_no_helper_module_is_copied_into_two_folders() -> None:
    assert not helper_modules_twice(TESTS), helper_modules_twice(TESTS)


def test_the_scan_finds_a_wait_of_its_own_and_a_copied_module(tmp_path: Path) -> None:
    (tmp_path / "support").mkdir()
    (tmp_path / "support" / "waiting.py").write_text("def eventually():\n    pass\n")
    (tmp_path / "orders").mkdir()
    (tmp_path / "stock").mkdir()
    for folder in ("orders", "stock"):
        (tmp_path / folder / "runner.py").write_text("class Watch:\n    def until(self):\n        pass\n")
    (tmp_path / "orders" / "test_x.py").write_text(
        "def test_x():\n    def _wait_for(): pass\n\nasync def until_ready():\n    pass\n")
    assert wait_helpers_outside_support(tmp_path) == ["orders/test_x.py:4 until_ready", "orders/test_x.py:2 _wait_for"]
    assert helper_modules_twice(tmp_path) == ["runner.py in orders, stock"]
