"""No runtime module imports the local stack (streams/stack): the stack is one producer of the runtime settings.

The boundary. The runtime is every module of streams/ but these, which may import the stack:

- ``stack/``: the stack itself (its supervisor, services, secrets, and ``offer.py``, what it offers the runtime);
- ``demo.py`` and ``cli/demo.py``: the demo starts and drives the stack;
- ``cli/stack_commands.py`` (``isthmus up/down/status/...``) and ``cli/environment.py`` (``isthmus env``, which
  lists the stack's variables next to the runtime's and checks its prerequisites);
- ``cli/runtime.py``: the one bridge, where the CLI passes the stack's offer to ``RuntimeSettings.load`` as the
  weakest source (and names the stack's home, where the inspection roles' tokens file is looked for).

Every other CLI command is runtime too: it takes what it needs from the runtime settings, never from the stack.
An installed Isthmus on a company's cluster runs the same modules with the stack absent.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import streams

pytestmark = pytest.mark.unit

ROOT = Path(streams.__file__).resolve().parent
#: Where the stack may be imported (see the module's docstring): a folder ends with "/", a module does not.
NOT_RUNTIME = ("stack/", "demo.py", "cli/demo.py", "cli/stack_commands.py", "cli/environment.py", "cli/runtime.py")


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
    return {name: p for p in ROOT.rglob("*.py") if not _exempt(name := p.relative_to(ROOT).as_posix())}


def _exempt(name: str) -> bool:
    return any(name.startswith(entry) if entry.endswith("/") else name == entry for entry in NOT_RUNTIME)


def test_no_runtime_module_imports_the_stack() -> None:
    importing = sorted(name for name, path in _runtime_modules().items() if _imports_stack(path))
    assert not importing, ("runtime modules must not import streams/stack; take the runtime settings instead "
                           f"(streams/config, which the stack's offer feeds through cli/runtime.py): {importing}")


def test_the_runtime_settings_package_is_checked() -> None:
    modules = _runtime_modules()
    assert "config/model.py" in modules and "config/kafka.py" in modules
    assert not any(name.startswith("stack/") for name in modules)
    assert {"cli/worker.py", "cli/sink.py", "cli/connectors.py", "cli/topics.py"} <= set(modules), \
        "the CLI's runtime commands are checked"
    assert "cli/runtime.py" not in modules and "cli/stack_commands.py" not in modules
    assert _imports_stack(ROOT / "cli" / "runtime.py"), "the check sees an import of the stack"
