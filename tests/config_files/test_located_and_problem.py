"""The one reader's plain-data view keeps each key's own line, and the one Problem reads the same for every
config file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streams.config_files.located_yaml import DuplicateKey, dotted, located, parse, read_file
from streams.config_files.problem import Problem
from streams.sinks.config import load_target
from streams.sinks.exceptions import TargetConfigError


def test_a_key_is_on_its_own_line_not_its_block_s() -> None:
    read = located(parse("jsonrpc:\n  url: x\nroutes:\n  - method: a\n  -\n    method: b\n"))
    assert read.data == {"jsonrpc": {"url": "x"}, "routes": [{"method": "a"}, {"method": "b"}]}
    assert [read.line(path) for path in [("jsonrpc",), ("jsonrpc", "url"), ("routes",), ("routes", 0),
                                         ("routes", 1), ("routes", 1, "method"), ("routes", 1, "nope")]] == \
        [1, 2, 3, 4, 6, 6, 6]
    assert dotted(("routes", 1, "method")) == "routes[1].method"



def test_a_repeated_block_names_the_first_key_s_line() -> None:
    with pytest.raises(DuplicateKey, match=r"key 'http' appears twice \(first on line 1\)") as caught:
        parse("http:\n  base_url: a\nhttp:\n  base_url: b\n")
    assert caught.value.line == 3


def test_a_problem_reads_file_line_field_message_and_fix() -> None:
    here = Path("/nowhere/targets/erp.yaml")
    assert str(Problem(file=here, line=7, field="routes[0].path", message="is missing", fix="add it")) == \
        "/nowhere/targets/erp.yaml:7: routes[0].path: is missing; fix: add it"
    assert str(Problem(file=here, line=None, field="topics", message="clash", fix="rename")) == \
        "/nowhere/targets/erp.yaml: topics: clash; fix: rename"
    assert str(Problem(file=here, line=3, field=None, message="not valid YAML", fix="correct it")) == \
        "/nowhere/targets/erp.yaml:3: not valid YAML; fix: correct it"


def test_a_target_file_that_repeats_a_key_is_refused_at_the_second(tmp_path: Path) -> None:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent("""\
        system: erp
        adapter: http
        http:
          base_url: http://127.0.0.1:1
          base_url: http://127.0.0.1:2
        routes: []
        """), encoding="utf-8")
    with pytest.raises(TargetConfigError) as caught:
        load_target(path)
    assert [(p.line, p.field, p.fix) for p in caught.value.problems] == [(5, "base_url", "keep one of them")]
    assert str(caught.value) == f"{path}:5: base_url: key 'base_url' appears twice (first on line 4); " \
                                "fix: keep one of them"


def test_a_refused_target_file_carries_its_problems(tmp_path: Path) -> None:
    path = tmp_path / "erp.yaml"
    path.write_text("system: erp\nadapter: http\nroutes: 5\n", encoding="utf-8")
    with pytest.raises(TargetConfigError) as caught:
        load_target(path)
    assert caught.value.problems and all(isinstance(p, Problem) and p.file == path for p in caught.value.problems)
    assert all(str(p) in str(caught.value) for p in caught.value.problems)


def test_merge_keys_bring_an_anchors_keys_and_the_keys_given_win() -> None:
    text = ("search: &search\n  path: /api/contacts\n  match: ref\nroutes:\n"
            "  - external_id:\n      <<: *search\n      match: uid\n"
            "  - external_id: {<<: [*search, {next: cursor}]}\n")
    root = parse(text)
    first, second = root.plain()["routes"]
    assert first["external_id"] == {"match": "uid", "path": "/api/contacts"}
    assert second["external_id"] == {"path": "/api/contacts", "match": "ref", "next": "cursor"}
    assert root.get("routes").value[0].get("external_id").get("path").line == 2  # where the anchor says it


def test_a_merge_key_of_no_mapping_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("a: 1\nb:\n  <<: [1, 2]\n", encoding="utf-8")
    problems: list[tuple[int, str, str, str]] = []
    assert read_file(path, lambda *p: problems.append(p)) is None
    [(line, field, message, _)] = problems
    assert (line, field) == (3, "(yaml)") and "merge key" in message
