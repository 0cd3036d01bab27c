"""The wheel built from this checkout, installed with the pinned dependencies in a fresh virtual environment:
what a user gets from ``pip install isthmus-*.whl`` (issue 16, item 2), for tests that run the installed
``isthmus`` outside the repo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streams.config.paths import PROJECT_ROOT


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command; its output, or fail the test with both streams."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def install_wheel(root: Path) -> Path:
    """Build the wheel into ``root/dist``, install it into ``root/venv``; returns ``<venv>/bin``."""
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(PROJECT_ROOT), cwd=root)
    wheels = list((root / "dist").glob("isthmus-*.whl"))
    assert len(wheels) == 1
    run(sys.executable, "-m", "venv", str(root / "venv"), cwd=root)
    run(str(root / "venv" / "bin" / "pip"), "install", "-q", "-c", str(PROJECT_ROOT / "constraints.txt"),
        str(wheels[0]), cwd=root)
    return root / "venv" / "bin"
