"""How `isthmus topics dlq replay` sends each dead letter: a command an entity flow derived is derived again by that
flow (the default), anything else, or everything with --as-stored, is re-sent as stored."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import pytest
from support.systems import reference_systems

from streams.cli.topics import register
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.commands import Cause, Command, encode_command
from streams.flows.customers.config import EntityConfig
from streams.flows.customers.rederive import entity_flows, replay_ways
from streams.kafka.deadletters import DEAD_LETTER_TYPE, Original, dead_letter_value
from streams.mapping import load_mappings
from streams.sinks.dlq import DeadLetterEntry

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
SYSTEMS = reference_systems()
CAUSE = Cause(system="crm", connector="crm", database="crm", table="customers", row_key="id=1",
              commit_time=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def flows() -> list[EntityConfig]:
    found, broken = entity_flows(load_mappings(schemas=STORE.schemas, systems=SYSTEMS), STORE.schemas.named,
                                 SYSTEMS)
    assert broken == {}
    return found


def _entry(offset: int, entity_type: str, payload_type: str, operation: str, key: str, payload: dict[str, Any],
           stage: str = "sink.erp") -> DeadLetterEntry:
    command = Command(target="erp", operation=operation, entity_type=f"isthmus.canonical.{entity_type}",
                      entity_key=key, payload_type=f"isthmus.canonical.{payload_type}", payload=payload, cause=CAUSE)
    value = encode_command(STORE, command, systems=SYSTEMS)
    letter = dead_letter_value(Original(topic="isthmus.commands.erp", partition=0, offset=offset, timestamp_ms=1,
                                        key=key.encode(), value=value), reason="422", error_type="Http422",
                               stage=stage, attempts=1, worker="w")
    return DeadLetterEntry(partition=0, offset=offset, timestamp_ms=1, letter=letter,
                           raw=STORE.encode(DEAD_LETTER_TYPE, letter))


def _account(offset: int, stage: str = "sink.erp") -> DeadLetterEntry:
    return _entry(offset, "Customer", "Account", "update", "C-000001", {"name": "Acme"}, stage)


def test_an_entity_flows_command_is_derived_again_by_that_flow(flows: list[EntityConfig]) -> None:
    ways = replay_ways([_account(3)], flows, STORE, as_stored=False)
    assert ways == {"0:3": ("isthmus-customers", "")}


def test_a_document_or_a_flows_own_dead_letter_is_replayed_as_stored(flows: list[EntityConfig]) -> None:
    order = _entry(4, "SalesOrder", "SalesOrder", "create", "SO-000001", {"order_number": "SO-000001"})
    rejected = _account(5, stage="flow.isthmus-customers")
    ways = replay_ways([order, rejected], flows, STORE, as_stored=False)
    assert ways["0:4"] == (None, "no entity flow derives SalesOrder commands for erp")
    assert ways["0:5"][0] is None and "stage flow.isthmus-customers is no sink" in ways["0:5"][1]


def test_as_stored_replays_every_dead_letter_as_it_was(flows: list[EntityConfig]) -> None:
    assert replay_ways([_account(3)], flows, STORE, as_stored=True) == {"0:3": (None, "--as-stored")}


def test_the_replay_command_takes_as_stored() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["topics", "dlq", "replay", "0:3", "--as-stored"])
    assert args.as_stored and args.positions == ["0:3"]
    assert not parser.parse_args(["topics", "dlq", "replay", "0:3"]).as_stored


def test_the_replay_summary_counts_the_dead_letters_not_replayed() -> None:
    """A trial's `dlq replay --pending` ended "116 replayed as stored" while 12 were refused as stale (each said so
    on a line of its own among 128): the summary, the line a reader takes as the outcome, now counts them too."""
    from streams.cli.topics import replay_summary

    rows = [{"dead_letter": f"0:{n}", "flow": None, "status_before": "pending"} for n in range(3)]
    skipped = [{"dead_letter": f"0:{n}", "outcome": "skipped", "why": "its row changed since"} for n in (7, 9)]
    assert replay_summary(rows, skipped) == [
        "3 replayed as stored",
        "2 not replayed (0:7, 0:9): each is stale or settled, as its `not replayed` line above says; a stale one "
        "stays pending until `isthmus topics dlq settle --superseded` settles it, or --stale replays it anyway"]
    assert replay_summary(rows, []) == ["3 replayed as stored"]
    many = [{"dead_letter": f"0:{n}"} for n in range(12)]
    assert replay_summary([], many)[1].startswith("12 not replayed (0:0, 0:1, 0:2, 0:3, 0:4, 0:5, 0:6, 0:7, 0:8, "
                                                  "0:9, ...): ")
