"""Sinks exist for the writable declared systems, whatever their names; a read-only system has no command
topics and no sink."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.systems import reference_with, system

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.runner import load_system_target
from streams.sinks.topics import sink_topic_specs

TARGETS = Path(__file__).resolve().parents[2] / "targets"


def test_a_writable_third_system_gets_command_and_result_topics_and_a_read_only_one_none() -> None:
    systems = reference_with(system("shop"), system("billing", writable=True))
    names = {spec.name for spec in sink_topic_specs(systems.writable)}
    assert {"isthmus.commands.billing", "isthmus.results.billing", "isthmus.commands.crm", "isthmus.dlq"} <= names
    assert not any("shop" in name for name in names)


def test_the_default_sink_topics_are_those_of_the_declared_writable_systems() -> None:
    names = {spec.name for spec in sink_topic_specs()}
    assert names == {"isthmus.dlq", "isthmus.commands.crm", "isthmus.results.crm", "isthmus.commands.erp",
                     "isthmus.results.erp"}


def test_a_sink_reads_the_target_its_system_file_names(tmp_path: Path) -> None:
    target = tmp_path / "books.yaml"
    target.write_text((TARGETS / "erp.yaml").read_text().replace("system: erp", "system: billing", 1))
    systems = reference_with(system("billing", writable=True, target=target))
    config = load_system_target("billing", None, SchemaStore.from_directory(), systems)
    assert (config.system, config.path) == ("billing", target)


def test_a_read_only_or_unknown_system_is_refused_as_a_sink_target() -> None:
    systems = reference_with(system("shop"))
    store = SchemaStore.from_directory()
    with pytest.raises(TargetConfigError, match=r"shop is read-only .*name a writable system \(crm, erp\)"):
        load_system_target("shop", None, store, systems)
    with pytest.raises(TargetConfigError, match=r"unknown target 'books'.*crm, erp, shop"):
        load_system_target("books", None, store, systems)
