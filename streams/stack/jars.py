"""The stack's jars: resolved by Maven from Maven Central once, then reused.

``stack/maven/pom.xml`` names every jar; Maven copies each component's runtime classpath into
``<home>/jars``. The local Maven repository is a git-ignored cache in the project (``ISTHMUS_MAVEN_REPO``
overrides it), shared by every stack home. A stamp of the poms' hash marks a finished resolution.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from streams.stack.exceptions import StackError
from streams.stack.progress import Progress
from streams.stack.settings import PROJECT_ROOT

POM_DIR = PROJECT_ROOT / "stack" / "maven"
COMPONENTS = ("kafka", "connect", "plugins/debezium-postgres", "plugins/debezium-mariadb")
MAVEN_REPO_ENV = "ISTHMUS_MAVEN_REPO"
DEFAULT_MAVEN_REPO = PROJECT_ROOT / ".isthmus" / "cache" / "m2"
DOCS: dict[str, str] = {
    MAVEN_REPO_ENV: f"Maven's local repository, reused by every stack home (default {DEFAULT_MAVEN_REPO})",
}


def maven_repo() -> Path:
    return Path(os.environ.get(MAVEN_REPO_ENV, DEFAULT_MAVEN_REPO))


def poms_digest() -> str:
    digest = hashlib.sha256()
    for pom in sorted(POM_DIR.rglob("pom.xml")):
        digest.update(pom.relative_to(POM_DIR).as_posix().encode())
        digest.update(pom.read_bytes())
    return digest.hexdigest()


def ensure_jars(jars_dir: Path, mvn: str, progress: Progress) -> None:
    stamp = jars_dir / ".resolved"
    wanted = poms_digest()
    if stamp.exists() and stamp.read_text().strip() == wanted and all((jars_dir / c).is_dir() for c in COMPONENTS):
        return
    progress.say(f"resolving jars with Maven into {jars_dir} (cache {maven_repo()})")
    for component in COMPONENTS:
        target = jars_dir / component
        if target.is_dir():
            for jar in target.glob("*.jar"):
                jar.unlink()
    argv = [mvn, "-B", "-f", str(POM_DIR / "pom.xml"), "package",
            f"-Disthmus.jars={jars_dir}", f"-Dmaven.repo.local={maven_repo()}"]
    log_path = jars_dir.parent / "logs" / "maven.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    downloaded = 0
    last_report = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if "Downloaded from" in line:
                downloaded += 1
            if time.monotonic() - last_report > 3:
                progress.say(f"  maven: {downloaded} files downloaded so far")
                last_report = time.monotonic()
        code = process.wait()
    if code != 0:
        raise StackError(f"Maven could not resolve the stack's jars (exit {code}); see {log_path}. "
                         "Maven Central must be reachable; retry `isthmus up`.")
    stamp.write_text(wanted + "\n")
    progress.say(f"jars ready: {downloaded} files downloaded, {sum(1 for _ in jars_dir.rglob('*.jar'))} jars")
