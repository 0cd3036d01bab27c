"""The tests' stack is apart from the demo's: another home and other ports for every service."""

from __future__ import annotations

from pathlib import Path

from streams.dashboard.settings import dashboard_port
from streams.stack.profiles import stack_env_for_tests, use_stack_for_tests
from streams.stack.settings import _PORTS, StackSettings
from streams.worker.settings import WorkerSettings


def test_the_tests_stack_shares_no_home_and_no_port_with_the_default_one() -> None:
    env: dict[str, str] = {}
    assert use_stack_for_tests(env)
    tests, default = StackSettings.from_env(env), StackSettings.from_env({})
    assert tests.home != default.home and tests.home.name.endswith("-test")
    ports = {getattr(tests, name) for name in _PORTS} | {WorkerSettings.from_env(env).port, dashboard_port(env)}
    defaults = {getattr(default, name) for name in _PORTS} | {WorkerSettings.from_env({}).port, dashboard_port({})}
    assert len(ports) == len(_PORTS) + 2, "each service of the tests' stack has its own port"
    assert not ports & defaults


def test_a_named_home_is_left_as_given() -> None:
    env = {"ISTHMUS_HOME": "/srv/isthmus"}
    assert not use_stack_for_tests(env)
    assert env == {"ISTHMUS_HOME": "/srv/isthmus"}


def test_a_port_already_set_wins() -> None:
    env = {"ISTHMUS_KAFKA_PORT": "24092"}
    use_stack_for_tests(env)
    assert env["ISTHMUS_KAFKA_PORT"] == "24092"
    assert Path(env["ISTHMUS_HOME"]) == Path(stack_env_for_tests()["ISTHMUS_HOME"])
