"""`isthmus topics trace` reads a day unless told otherwise, says so, and loads only the `topics` command."""

from __future__ import annotations

import argparse

import pytest

from streams.cli.main import COMMAND_MODULE, build_parser, command_of
from streams.cli.topics import TRACE_WINDOW, ProgressLine


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_each_command_loads_only_its_own_module() -> None:
    assert _commands(build_parser()) == set(COMMAND_MODULE), "every command is listed"
    topics = build_parser("topics")
    assert _commands(topics) == set(COMMAND_MODULE), "the others as their line of help only"
    assert topics.parse_args(["topics", "trace", "C-1"]).run.__module__ == "streams.cli.topics"
    assert not hasattr(topics.parse_args(["worker"]), "run"), "the worker's module was not loaded"


def test_the_command_word_is_found_after_global_options() -> None:
    assert command_of(["--config", "prod.yaml", "topics", "trace", "C-1"]) == "topics"
    assert command_of(["--config=prod.yaml", "worker"]) == "worker"
    assert command_of(["--version"]) is None


def test_trace_reads_the_last_day_by_default() -> None:
    args = build_parser("topics").parse_args(["topics", "trace", "C-000001"])
    assert args.since == TRACE_WINDOW == "24h"
    assert build_parser("topics").parse_args(["topics", "trace", "C-1", "--since", "30d"]).since == "30d"


def test_progress_is_shown_on_stderr_once_a_read_lasts(capsys: pytest.CaptureFixture[str]) -> None:
    quiet, shown = ProgressLine("trace", every_s=3600), ProgressLine("trace", every_s=0)
    quiet({"a": (10, 1_000_000)})
    shown({"a": (200_000, 200_000), "b": (50_000, 700_000), "c": (0, 100_000)})
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("trace: read 250,000 of 1,000,000 records (0s); b 50,000 of 700,000, "
                                   "c 0 of 100,000\n"), "the whole, then each topic still being read"
    assert captured.err.count("\n") == 1
    shown({f"t{n}": (0, 1) for n in range(6)})
    assert capsys.readouterr().err.endswith("t3 0 of 1 and 2 more topics\n")
