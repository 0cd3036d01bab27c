"""No runtime module imports the local stack (streams/stack): the stack is one producer of the runtime settings.

The runtime is every package of streams/ but the stack itself, the CLI (the façade that wires both) and the
demo (which runs the stack). ``REMAINING`` pins the modules that still reach into the stack, each for its
reason; the list may only shrink: a new import fails, and so does an entry that no longer imports the stack.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import streams

pytestmark = pytest.mark.unit

ROOT = Path(streams.__file__).resolve().parent
NOT_RUNTIME = ("stack", "cli", "demo.py")

#: Still importing the stack, to move behind the runtime settings next (issue 16, item 1).
REMAINING = {
    "sinks/environment.py": "SinkEnvironment carries the stack settings (reference API URLs, DB credentials)",
    "sinks/adapters/builtin.py": "default base URLs and the SQL target's credentials come from the stack",
    "worker/run.py": "the worker binds the stack's host and sends resync signals through RunningStack",
    "worker/resync.py": "resync signals go through the stack's database connections",
    "kafka/hanging.py": "kafka-transactions.sh comes from the stack's Kafka jars",
    "capture/configs.py": "connector configs are rendered with the stack's hosts, ports and secrets",
    "capture/signals.py": "snapshot signals are written through the stack's database connections",
    "catalog/live.py": "the live catalog connects with the stack's credentials",
}


def _imports_stack(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("streams.stack"):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "streams" and any(
                alias.name == "stack" for alias in node.names):
            return True
        if isinstance(node, ast.Import) and any(alias.name.startswith("streams.stack") for alias in node.names):
            return True
    return False


def _runtime_modules() -> dict[str, Path]:
    return {str(p.relative_to(ROOT)): p for p in ROOT.rglob("*.py")
            if not str(p.relative_to(ROOT)).startswith(NOT_RUNTIME)}


def test_no_runtime_module_imports_the_stack() -> None:
    importing = {name for name, path in _runtime_modules().items() if _imports_stack(path)}
    new = sorted(importing - set(REMAINING))
    assert not new, f"runtime modules must not import streams/stack (take the runtime settings instead): {new}"
    gone = sorted(set(REMAINING) - importing)
    assert not gone, f"these no longer import the stack: drop them from REMAINING: {gone}"


def test_the_runtime_settings_package_is_checked() -> None:
    modules = _runtime_modules()
    assert "config/model.py" in modules and "config/kafka.py" in modules
    assert not any(name.startswith("stack/") for name in modules)
    assert _imports_stack(ROOT / "cli" / "runtime.py"), "the check sees an import of the stack"
