"""The kafka section's name prefixes: every topic of Isthmus's own, every group and transactional id, every
client.id a worker, sink, loader, dashboard or ``isthmus topics`` would use carries them; the CDC topics do not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from streams.cli.runtime import load_runtime
from streams.config.exceptions import RuntimeConfigError
from streams.config.kafka import KafkaSettings
from streams.config.model import RuntimeSettings
from streams.config.show import effective
from streams.dashboard.app import DashboardConfig, _empty_snapshot
from streams.dashboard.series import _is_sink
from streams.flows.context import FlowContext
from streams.flows.engine.api import FlowSpec
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.flows.engine.repartition import layout
from streams.flows.registry import build_flows
from streams.inspect.roles import AccessPolicy
from streams.inspect.trace import TraceModel
from streams.kafka import names
from streams.sinks.settings import SinkSettings
from streams.sinks.topics import sink_topic_specs

pytestmark = pytest.mark.unit

PREFIXES = {names.TOPIC_PREFIX_ENV: "team-a.", names.GROUP_PREFIX_ENV: "team-a-g.",
            names.CLIENT_ID_PREFIX_ENV: "team-a-c."}
REQUIRED = {"ISTHMUS_KAFKA_BOOTSTRAP_SERVERS": "b1:9092", "ISTHMUS_CONNECT_URLS": "http://c1:8083"}
STREAMS = Path(__file__).resolve().parents[2] / "streams"


@pytest.fixture
def prefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, prefix in PREFIXES.items():
        monkeypatch.setenv(variable, prefix)


def _specs(flows: list[FlowSpec]) -> list[FlowSpec]:
    return [f for spec in flows for f in (*_specs(list(spec.feeders)), spec)]


@pytest.mark.parametrize("partitions", [1, 3])
def test_every_topic_a_worker_uses_of_its_own_carries_the_topic_prefix_and_no_cdc_topic_does(
        prefixed: None, partitions: int) -> None:
    context = FlowContext.load()
    laid = layout(build_flows(context).flows, partitions)
    transactions = {system.transaction_topic for system in context.systems.values()}
    own: set[str] = set()
    for spec in _specs(laid.flows):
        topics = {*spec.inputs, *spec.outputs, *(spec.changelog_topic(store) for store in spec.stores)}
        cdc = {t for t in topics if context.systems.by_topic(t) is not None or t in transactions}
        assert not {t for t in cdc if t.startswith("team-a.")}, spec.name
        own |= topics - cdc
        assert FlowProcessor(spec, EngineSettings(bootstrap_servers="b:9092"), context.schemas).group == \
            f"team-a-g.{spec.name}"
    own |= {t.name for t in (*laid.topics, *sink_topic_specs())}
    assert not {t for t in own if not t.startswith("team-a.isthmus")}
    assert {"team-a.isthmus.dlq", "team-a.isthmus.holds", "team-a.isthmus.audit.conflicts",
            "team-a.isthmus.customer360", "team-a.isthmus.canonical.customers", "team-a.isthmus.commands.erp",
            "team-a.isthmus.results.erp"} <= own
    assert any(t.endswith("-changelog") for t in own)


def test_a_sinks_topics_group_transactional_id_and_client_id_carry_their_prefixes(prefixed: None) -> None:
    resolved = SinkSettings().for_system("erp", writable=("crm", "erp"))
    assert (resolved.command_topic, resolved.results_topic, resolved.dlq_topic) == (
        "team-a.isthmus.commands.erp", "team-a.isthmus.results.erp", "team-a.isthmus.dlq")
    assert resolved.group_id == resolved.transactional_id == "team-a-g.isthmus-sink-erp"
    assert resolved.client_id == f"team-a-c.{resolved.worker_id}"
    given = SinkSettings(group_id="mine", dlq_topic="my.dlq").for_system("erp")
    assert (given.group_id, given.dlq_topic) == ("mine", "my.dlq"), "a name given explicitly is used as given"


def test_the_dashboard_and_a_trace_read_the_prefixed_topics_and_tell_sinks_by_the_prefixed_group(
        prefixed: None) -> None:
    config = DashboardConfig(bootstrap="b:9092", connect_url="http://c:8083", policy=AccessPolicy())
    assert (config.dlq_topic, config.conflicts_topic, config.holds_topic, config.customer360_topic) == (
        "team-a.isthmus.dlq", "team-a.isthmus.audit.conflicts", "team-a.isthmus.holds", "team-a.isthmus.customer360")
    assert _empty_snapshot()["dlq_topic"] == "team-a.isthmus.dlq"
    assert _is_sink("team-a-g.isthmus-sink-crm") and not _is_sink("isthmus-sink-crm")
    context = FlowContext.load()
    topics = TraceModel.of(context.mappings).default_topics(context.systems)
    own = [t for t in topics if context.systems.by_topic(t) is None]
    assert own and all(t.startswith("team-a.isthmus.") for t in own)


def test_without_prefixes_the_names_are_todays() -> None:
    env: dict[str, str] = {}
    assert names.topic("isthmus.dlq", env) == "isthmus.dlq"
    assert names.group("isthmus-customers", env) == names.transactional_id("isthmus-customers", env) == \
        "isthmus-customers"
    assert names.client_id("isthmus-admin", env) == "isthmus-admin"


def _keyword_values(keyword: str) -> list[tuple[str, ast.expr]]:
    found = []
    for path in STREAMS.rglob("*.py"):
        if "stack" in path.relative_to(STREAMS).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                found += [(f"{path.relative_to(STREAMS)}:{node.lineno}", k.value) for k in node.keywords
                          if k.arg == keyword]
    return found


@pytest.mark.parametrize(("keyword", "builder"), [("client_id", "client_id"), ("group_id", "group"),
                                                  ("transactional_id", "transactional_id")])
def test_every_kafka_client_gets_its_name_from_the_names_module(keyword: str, builder: str) -> None:
    """A client built with a name of its own spelled in place would escape the prefix (and the ACLs)."""
    def prefixed(value: ast.expr) -> bool:
        if isinstance(value, ast.Constant):
            return value.value is None  # no group: an assigned consumer
        if isinstance(value, ast.BoolOp):  # a setting given explicitly, or the prefixed default
            return all(prefixed(v) for v in value.values)
        if isinstance(value, ast.Call):  # names.<builder>(...), or a *_topic-style helper that calls it
            return isinstance(value.func, ast.Attribute) and value.func.attr == builder
        # a resolved setting built by the names module (ResolvedSinkSettings, FlowProcessor.group)
        return isinstance(value, ast.Attribute) and value.attr in {keyword, "group"}

    spelled = [where for where, value in _keyword_values(keyword) if not prefixed(value)]
    assert not spelled, f"{keyword}= not built by streams.kafka.names.{builder}: {spelled}"


def test_config_show_lists_the_three_prefixes_with_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = RuntimeSettings.load({**REQUIRED, names.TOPIC_PREFIX_ENV: "team-a."})
    rows = {row.key: row for row in effective(settings) if row.section == "kafka"}
    assert (rows["topic_prefix"].value, rows["topic_prefix"].origin) == ("team-a.", "env")
    assert rows["group_prefix"].origin == rows["client_id_prefix"].origin == "default"
    for field in KafkaSettings.PREFIXES:
        assert rows[field].env == KafkaSettings.env_name(field) and rows[field].description
    assert {KafkaSettings.env_name(f) for f in KafkaSettings.PREFIXES} == {*PREFIXES}


def test_a_prefix_a_topic_name_cannot_hold_is_refused_naming_its_variable() -> None:
    with pytest.raises(RuntimeConfigError, match=r"ISTHMUS_KAFKA_GROUP_PREFIX.*letters, digits"):
        RuntimeSettings.load({**REQUIRED, names.GROUP_PREFIX_ENV: "team a/"})


def test_a_prefix_from_a_config_file_reaches_the_name_builders(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "isthmus.yaml"
    config.write_text("kafka:\n  bootstrap_servers: b1:9092\n  topic_prefix: team-b.\n"
                      "connect:\n  urls: http://c1:8083\n", encoding="utf-8")
    monkeypatch.setenv(names.TOPIC_PREFIX_ENV, "")  # restored after the test: load_runtime writes it
    monkeypatch.delenv(names.TOPIC_PREFIX_ENV)
    monkeypatch.setenv("ISTHMUS_CONFIG", str(config))
    assert names.topic("isthmus.dlq") == "isthmus.dlq"
    assert load_runtime().origins[("kafka", "topic_prefix")] == "file"
    assert names.topic("isthmus.dlq") == "team-b.isthmus.dlq"
