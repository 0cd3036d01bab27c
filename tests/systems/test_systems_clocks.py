"""A system's commit-time precision: derived from its engine unless its file declares one, refused with line and
fix when it names no precision."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from streams.systems import ClockPrecision, SystemConfigError, load_systems


def _systems_dir(tmp_path: Path, systems: dict[str, str]) -> Path:
    (tmp_path / "systems").mkdir()
    folder = tmp_path / "connect-configs" / "connectors"
    folder.mkdir(parents=True)
    for name, text in systems.items():
        (tmp_path / "systems" / f"{name}.yaml").write_text(
            f"connector: {name}-src\ntopics: {{prefix: {name}, namespace: db}}\n{text}")
        (folder / f"{name}-src.yaml").write_text(f"name: {name}-src\nconfig:\n  topic.prefix: {name}\n")
    return tmp_path / "systems"


def test_the_reference_pair_keeps_microseconds_and_whole_seconds() -> None:
    systems = load_systems(env={})
    assert systems["crm"].clock is ClockPrecision.MICROSECONDS and systems["erp"].clock is ClockPrecision.SECONDS
    assert systems.clocks == {"crm": dt.timedelta(microseconds=1), "erp": dt.timedelta(seconds=1)}


def test_the_engine_gives_the_default_and_a_file_may_declare_its_own(tmp_path: Path) -> None:
    directory = _systems_dir(tmp_path, {
        "pg": "engine: postgresql\n",
        "books": "engine: mysql\n",
        "fine": "engine: mariadb\ncommit_time_precision: milliseconds\n",
    })
    systems = load_systems(directory, env={})
    assert systems["pg"].clock is ClockPrecision.MICROSECONDS
    assert systems["books"].clock is ClockPrecision.SECONDS
    assert systems["fine"].clock is ClockPrecision.MILLISECONDS
    assert systems.clocks["fine"] == dt.timedelta(milliseconds=1)


def test_an_unknown_precision_is_refused_with_line_and_fix(tmp_path: Path) -> None:
    directory = _systems_dir(tmp_path, {"odd": "engine: mariadb\ncommit_time_precision: minutes\n"})
    with pytest.raises(SystemConfigError) as raised:
        load_systems(directory, env={})
    (problem,) = raised.value.problems
    assert (Path(problem.file).name, problem.line, problem.field) == ("odd.yaml", 4, "commit_time_precision")
    assert problem.message == "unknown precision 'minutes'"
    assert "seconds, milliseconds, microseconds" in problem.fix
