"""Tryton's own virtual environment: built once from PyPI, then reused, like the jars.

Tryton (the real ERP of ``examples/tryton/``) brings its own dependencies, which must not disturb the project's
``.venv``; so it is installed into a virtual environment of its own, pinned by ``stack/tryton/requirements.txt``
and ``stack/tryton/constraints.txt``. The environment is a git-ignored cache in the project
(``ISTHMUS_TRYTON_VENV`` overrides it), shared by every stack home. A stamp of the two files' hash marks a
finished install; changing either rebuilds it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from streams.stack.exceptions import StackError
from streams.stack.progress import Progress
from streams.stack.settings import PROJECT_ROOT

PIN_DIR = PROJECT_ROOT / "stack" / "tryton"
VENV_ENV = "ISTHMUS_TRYTON_VENV"
DEFAULT_VENV = PROJECT_ROOT / ".isthmus" / "cache" / "tryton-venv"
DOCS: dict[str, str] = {
    VENV_ENV: f"Tryton's virtual environment, reused by every stack home (default {DEFAULT_VENV})",
}


def tryton_venv() -> Path:
    return Path(os.environ.get(VENV_ENV, DEFAULT_VENV))


def pins_digest() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "constraints.txt"):
        digest.update(name.encode())
        digest.update((PIN_DIR / name).read_bytes())
    return digest.hexdigest()


def ensure_tryton_venv(progress: Progress, venv: Path | None = None) -> Path:
    """The environment's folder, installed from the pins if it is missing or stale."""
    venv = venv or tryton_venv()
    stamp = venv / ".installed"
    wanted = pins_digest()
    if stamp.exists() and stamp.read_text().strip() == wanted and (venv / "bin" / "trytond").exists():
        return venv
    progress.say(f"installing Tryton from PyPI into {venv} (pinned by {PIN_DIR.relative_to(PROJECT_ROOT)})")
    if venv.exists():
        shutil.rmtree(venv)
    log_path = venv.parent / "tryton-venv.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    steps = (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "-r", str(PIN_DIR / "requirements.txt"), "-c", str(PIN_DIR / "constraints.txt")],
    )
    with open(log_path, "w") as log:
        for argv in steps:
            code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
            if code != 0:
                raise StackError(f"installing Tryton failed (exit {code} of `{' '.join(argv[:4])} ...`); see "
                                 f"{log_path}. PyPI must be reachable; retry `isthmus up tryton`.")
    stamp.write_text(wanted + "\n")
    progress.say(f"Tryton installed into {venv}")
    return venv
