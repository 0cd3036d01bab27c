from pathlib import Path

import pytest

from streams.stack.exceptions import StackConfigError
from streams.stack.settings import SETTINGS, StackSettings, default_home


def test_defaults_bind_loopback_and_differ() -> None:
    settings = StackSettings.from_env({})
    assert settings.host == "127.0.0.1"
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.connect_url == "http://127.0.0.1:18083"


def test_every_setting_is_read_from_its_variable(tmp_path: Path) -> None:
    settings = StackSettings.from_env({"ISTHMUS_KAFKA_PORT": "29092", "ISTHMUS_HOME": str(tmp_path),
                                       "ISTHMUS_ERP_TIME_ZONE": "Europe/Berlin", "ISTHMUS_HOST": "localhost"})
    assert settings.kafka_port == 29092
    assert settings.home == tmp_path.resolve()
    assert settings.erp_time_zone == "Europe/Berlin"
    assert settings.host == "localhost"
    assert set(SETTINGS) <= {f for f in StackSettings.__dataclass_fields__}


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(StackConfigError) as error:
        StackSettings.from_env({"ISTHMUS_KAFKA_PORT": "ninety", "ISTHMUS_CONNECT_PORT": "70000",
                                "ISTHMUS_HOST": "0.0.0.0", "ISTHMUS_CRM_API_PORT": "18002"})
    message = str(error.value)
    assert "ISTHMUS_KAFKA_PORT='ninety' is not a whole number" in message
    assert "ISTHMUS_CONNECT_PORT='70000' is not a port" in message
    assert "ISTHMUS_HOST='0.0.0.0' is not a loopback address" in message
    assert "port 18002 is given to more than one service (ISTHMUS_CRM_API_PORT, ISTHMUS_ERP_API_PORT)" in message


def test_private_project_folder_moves_home_out(tmp_path: Path) -> None:
    private = tmp_path / "private"
    project = private / "project"
    project.mkdir(parents=True)
    private.chmod(0o700)
    try:
        home = default_home(project)
    finally:
        private.chmod(0o755)
    assert home.parent == Path("/var/tmp") or home == project / ".isthmus"
    assert default_home(tmp_path) in (tmp_path / ".isthmus", Path("/var/tmp") / default_home(tmp_path).name)


def test_kraft_cluster_ids_never_look_like_an_option() -> None:
    from streams.stack.services.kafka import new_cluster_id

    ids = [new_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
