"""A service that does not answer in time: how long `isthmus up` waits is a stack setting
(ISTHMUS_START_TIMEOUT_S), and the error says the service may still be starting and what to do."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from streams.stack.exceptions import ServiceStartError, StackConfigError
from streams.stack.manager import StackManager
from streams.stack.process import LaunchSpec
from streams.stack.progress import Progress
from streams.stack.services.base import Service, ServiceContext
from streams.stack.services.connect import KafkaConnect
from streams.stack.settings import StackSettings

pytestmark = pytest.mark.unit


class _Silent(Service):
    """Runs, but never answers its health check (a JVM still loading its plugins on a loaded machine)."""

    name = "silent"
    start_timeout = 0.2

    @property
    def address(self) -> str:
        return "http://127.0.0.1:1"

    @property
    def ports(self) -> tuple[int, ...]:
        return ()

    def launch(self) -> LaunchSpec:
        return LaunchSpec(argv=(sys.executable, "-c", "import time; time.sleep(60)"))

    def is_healthy(self) -> bool:
        return False


def _manager(tmp_path: Path, **env: str) -> StackManager:
    return StackManager(StackSettings.from_env({"ISTHMUS_HOME": str(tmp_path), **env}), Progress())


def _context(manager: StackManager) -> ServiceContext:
    return ServiceContext(settings=manager.settings, secrets=manager.secrets, toolchain=None,
                          progress=manager.progress)


def test_each_service_waits_its_own_default_unless_the_setting_says(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    assert manager.settings.start_timeout_s is None
    assert KafkaConnect(_context(manager)).start_seconds == 120.0
    raised = _manager(tmp_path, ISTHMUS_START_TIMEOUT_S="600")
    assert raised.settings.start_timeout_s == 600.0
    assert KafkaConnect(_context(raised)).start_seconds == 600.0


@pytest.mark.parametrize("raw", ["two minutes", "0", "-5"])
def test_a_start_timeout_that_is_no_number_of_seconds_is_refused(raw: str) -> None:
    with pytest.raises(StackConfigError, match=f"ISTHMUS_START_TIMEOUT_S='{raw}' is not a number of seconds"):
        StackSettings.from_env({"ISTHMUS_START_TIMEOUT_S": raw})


def test_a_service_that_does_not_answer_in_time_is_left_running_and_the_error_says_what_to_do(
        tmp_path: Path) -> None:
    manager = _manager(tmp_path, ISTHMUS_START_TIMEOUT_S="2")
    service = _Silent(_context(manager))
    pid = service.process.start(service.launch())
    try:
        service.process.log_path.write_text("loading plugins...\n")
        with pytest.raises(ServiceStartError) as error:
            manager._wait_healthy(service, began=time.monotonic())
        message = str(error.value)
        assert message.startswith("silent did not answer within 2s; it may still be starting "
                                  f"(pid {pid}, its log {service.process.log_path})")
        assert "Run `isthmus up` again: it finds silent running and waits for it again" in message
        assert "raise ISTHMUS_START_TIMEOUT_S (seconds, now 2)" in message
        assert message.endswith("loading plugins...")
        assert not service.process.exited(pid), "a slow service is left to finish starting"
    finally:
        service.process.stop(signal.SIGTERM, 10)
