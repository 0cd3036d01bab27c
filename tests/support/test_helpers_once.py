"""Each test helper is written once: waits live in ``support.waiting``, topic readers and flow runners in
``support``. A function named like a wait (``wait*``, ``eventually*``, ``until*``, with or without a leading
underscore) defined anywhere else under ``tests/``, or a helper module copied into two test folders, fails here,
so a second hand-written deadline loop does not creep back. Methods are a class's own API and not checked.
Likewise an inline ``while ... time.monotonic() ...`` loop, or a Kafka consumer made outside ``support``
(topics are read through ``support.topics``), fails unless its file is in ``NOT_YET`` or ``GROUPS`` below."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = TESTS / "support"
WAIT_NAME = re.compile(r"^_*(wait|eventually|until)", re.IGNORECASE)
CONSUMERS = ("KafkaConsumer", "AIOKafkaConsumer")

#: files that still read topics or loop on a deadline by hand: to move onto support.topics / support.waiting
#: (issue 18, item 8); the list may only shrink
NOT_YET: dict[str, str] = {}
#: files whose consumers are consumer groups that commit offsets (lag, dashboards), not topic readers
GROUPS = {
    "bench/test_bench_settle.py": "commits a group's offsets to make lag",
    "dashboard/test_dashboard_charts.py": "commits groups' offsets to make lag",
    "dashboard/test_dashboard_service.py": "commits a group's offsets to make lag",
    "demo/test_demo_clean.py": "a probe group that must not show in the demo",
    "inspect/test_topics_integration.py": "commits a group's offsets to make lag",
    "inspect/test_status_integration.py": "commits a stopped flow's offsets and keeps a running one's member",
}


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


def _calls(node: ast.AST) -> set[str]:
    return {n.func.id if isinstance(n.func, ast.Name) else n.func.attr for n in ast.walk(node)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name | ast.Attribute)}


def hand_loops_and_consumers(root: Path) -> list[str]:
    """``file:line what`` of each ``while`` loop testing ``time.monotonic()`` (in its condition, or an ``assert``
    or ``if`` of its body) and each Kafka consumer made,
    under ``root`` outside ``root/support``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if (root / "support") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            tests = [node.test] + [n.test for n in node.body if isinstance(n, ast.Assert | ast.If)] \
                if isinstance(node, ast.While) else []
            if any("monotonic" in _calls(test) for test in tests):
                found.append(f"{where} deadline loop")
            elif isinstance(node, ast.Call) and (getattr(node.func, "id", None) in CONSUMERS
                                                 or getattr(node.func, "attr", None) in CONSUMERS):
                found.append(f"{where} consumer")
    return sorted(found, key=lambda f: (f.split(":")[0], int(f.split(":")[1].split()[0])))


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


def test_no_deadline_loop_or_consumer_is_written_outside_support() -> None:
    allowed = NOT_YET | GROUPS
    found = [f for f in hand_loops_and_consumers(TESTS) if f.split(":")[0] not in allowed]
    assert not found, ("wait with support.waiting and read topics with support.topics.TopicReader:\n"
                       + "\n".join(found))


def test_the_allow_list_names_only_files_that_still_need_it() -> None:
    still = {f.split(":")[0] for f in hand_loops_and_consumers(TESTS)}
    assert not (NOT_YET | GROUPS).keys() - still, f"no longer needed: {sorted((NOT_YET | GROUPS).keys() - still)}"


def test_the_scan_finds_a_deadline_loop_and_a_consumer(tmp_path: Path) -> None:
    (tmp_path / "support").mkdir()
    (tmp_path / "support" / "topics.py").write_text("from kafka import KafkaConsumer\nc = KafkaConsumer()\n")
    (tmp_path / "test_y.py").write_text(
        "import time\nimport kafka\n\ndef test_y():\n    c = kafka.KafkaConsumer()\n"
        "    deadline = time.monotonic() + 5\n    while time.monotonic() < deadline:\n        pass\n"
        "    while True:\n        assert time.monotonic() < deadline\n")
    assert hand_loops_and_consumers(tmp_path) == ["test_y.py:5 consumer", "test_y.py:7 deadline loop",
                                                  "test_y.py:9 deadline loop"]


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
