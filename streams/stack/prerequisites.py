"""Programs the local stack runs, found on this machine or named with the command that installs them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streams.stack.exceptions import PrerequisiteMissing

SETUP_HINT = "run `make setup` (it installs Java 17, Maven, PostgreSQL 15 and MariaDB from Debian's packages)"
PG_BIN_ENV = "ISTHMUS_PG_BIN"
DOCS: dict[str, str] = {
    PG_BIN_ENV: "folder of the PostgreSQL server binaries (default: the newest /usr/lib/postgresql/N/bin)",
}


@dataclass(frozen=True, kw_only=True)
class Toolchain:
    java: str
    mvn: str
    pg_bin: Path
    mariadbd: str
    mariadb_install_db: str


def _which(name: str, *extra_dirs: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in extra_dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _postgres_bin() -> Path | None:
    override = os.environ.get(PG_BIN_ENV)
    candidates = [Path(override)] if override else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for directory in candidates:
        if (directory / "postgres").is_file() and (directory / "initdb").is_file():
            return directory
    return None


def java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else 0


def find_toolchain() -> Toolchain:
    missing: list[str] = []
    java = _which("java")
    mvn = _which("mvn")
    pg_bin = _postgres_bin()
    mariadbd = _which("mariadbd", "/usr/sbin")
    install_db = _which("mariadb-install-db", "/usr/bin")
    if not java:
        missing.append("java (OpenJDK 17+)")
    elif java_major(java) < 17:
        missing.append(f"java 17 or newer ({java} is older)")
    if not mvn:
        missing.append("mvn (Apache Maven)")
    if not pg_bin:
        missing.append("PostgreSQL server binaries (postgres and initdb under /usr/lib/postgresql/N/bin, "
                       f"or {PG_BIN_ENV})")
    if not mariadbd or not install_db:
        missing.append("MariaDB server (mariadbd, mariadb-install-db)")
    if missing:
        raise PrerequisiteMissing("missing: " + "; ".join(missing) + f". To fix: {SETUP_HINT}.")
    assert java and mvn and pg_bin and mariadbd and install_db
    return Toolchain(java=java, mvn=mvn, pg_bin=pg_bin, mariadbd=mariadbd, mariadb_install_db=install_db)
