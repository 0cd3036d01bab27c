import stat
from pathlib import Path

from streams.stack.secrets import Secret, load_or_create


def test_secrets_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_or_create(tmp_path, env={})
    second = load_or_create(tmp_path, env={})
    assert first.crm_db_password == second.crm_db_password
    assert first.crm_db_password != first.erp_db_password
    assert len(first.crm_db_password.reveal()) >= 20
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600


def test_secrets_never_print(tmp_path: Path) -> None:
    secrets = load_or_create(tmp_path, env={})
    value = secrets.crm_db_password.reveal()
    for text in (str(secrets), repr(secrets), f"{secrets.crm_db_password}", str(Secret(value))):
        assert value not in text


def test_environment_overrides_and_connect_reference(tmp_path: Path) -> None:
    secrets = load_or_create(tmp_path, env={"ISTHMUS_ERP_DB_PASSWORD": "from-env"})
    assert secrets.erp_db_password.reveal() == "from-env"
    assert secrets.connect_reference("erp.db.password") == f"${{file:{secrets.path}:erp.db.password}}"
    assert "erp.db.password=from-env" in secrets.path.read_text()


def test_a_home_inside_a_git_work_tree_is_ignored_by_git(tmp_path: Path) -> None:
    """ISTHMUS_HOME=<checkout>/.isthmus-trial (a trial's) is not the ignored .isthmus/: its secrets showed as
    untracked files, one `git add -A` away from a commit."""
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    secrets = load_or_create(tmp_path / ".isthmus-trial", env={})
    assert secrets.path.exists()
    shown = subprocess.run(["git", "-C", str(tmp_path), "status", "--porcelain", "--untracked-files=all"],
                           check=True, capture_output=True, text=True).stdout
    assert shown == ""
