"""Adapters are plugins: a target file names one by its registered name (entry-point group isthmus.targets, or
registered in code); an unknown name is refused with its line, the registered names and how to add one; a
plugin owns its section and its routes' keys, and its problems carry their lines."""

from __future__ import annotations

import importlib
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streams.sinks.adapters.base import Adapter
from streams.sinks.adapters.builtin import http
from streams.sinks.adapters.registry import AdapterPlugin, AdapterRegistry, default_registry
from streams.sinks.config import load_target
from streams.sinks.config.loader import Key, RouteHead, TargetReader
from streams.sinks.config.model import AnswerRules, IdPaths, Route, TargetConfig
from streams.sinks.environment import SinkEnvironment
from streams.sinks.exceptions import TargetConfigError, UnknownAdapter
from streams.sinks.outcomes import Applied, Attempt
from streams.sinks.records import SinkCommand
from streams.sinks.runner import build_adapter

pytestmark = pytest.mark.unit


@dataclass(frozen=True, kw_only=True)
class EchoRoute:
    payload_type: str
    operation: str
    topic: str
    ids: IdPaths = field(default_factory=dict)
    answers: AnswerRules | None = None
    line: int | None = None

    def plan(self) -> str:
        return f"echo to {self.topic}"


class EchoAdapter:
    def __init__(self, config: TargetConfig, environment: SinkEnvironment) -> None:
        self.config = config
        self.environment = environment

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def attempt(self, command: SinkCommand) -> Attempt:
        return Applied(status=200, body=command.payload)

    def describe(self) -> str:
        return "echo"


def _section(raw: Any, reader: TargetReader) -> Any:
    spec = reader.mapping(raw, ("echo",), ("url", "loud"), "echo")
    if spec is None:
        return None
    url = reader.string(spec, "url", ("echo",), required=True, fix="give the echo server's URL")
    if url is not None and not url.startswith("echo://"):
        reader.problem(("echo", "url"), f"{url!r} is not an echo URL", "write echo://<host>")
    return {"url": url, "loud": reader.boolean(spec, "loud", ("echo",), False)}


def _route(raw: dict[str, Any], key: Key, head: RouteHead, reader: TargetReader) -> Route | None:
    topic = reader.string(raw, "topic", key, required=True, fix="name the topic")
    if head.payload_type is None or head.operation is None or topic is None:
        return None
    return EchoRoute(payload_type=head.payload_type, operation=head.operation, topic=topic, ids=head.ids,
                     answers=head.answers, line=reader.line(key))


def _build(config: TargetConfig, environment: SinkEnvironment) -> Adapter:
    return EchoAdapter(config, environment)


ECHO = AdapterPlugin(summary="an echo, for tests", build=_build, route=_route, route_keys=("topic",),
                     section=_section)

ECHO_FILE = """\
system: erp
adapter: echo
echo:
  url: echo://here
routes:
  - payload_type: Account
    operation: create
    topic: accounts
    ids: {account_id: result.0.id}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refused(path: Path, adapters: AdapterRegistry | None = None) -> str:
    with pytest.raises(TargetConfigError) as caught:
        load_target(path, adapters=adapters)
    return str(caught.value)


def with_echo() -> AdapterRegistry:
    registry = AdapterRegistry()
    registry.register("echo", ECHO)
    return registry


def test_the_shipped_adapters_are_registered_without_a_reinstall() -> None:
    names = default_registry().names()
    assert {"http", "sql", "jsonrpc"} <= set(names)
    assert default_registry().get("http") is http


def test_an_unknown_adapter_is_refused_with_its_line_the_registered_ones_and_how_to_register(tmp_path: Path) -> None:
    message = refused(write(tmp_path, ECHO_FILE))
    registered = ", ".join(default_registry().names())
    assert f"erp.yaml:2: adapter: 'echo' is not an adapter: the registered ones are {registered}; fix: use one " \
           "of them, or register one as an entry point of group isthmus.targets" in message
    # the section of an adapter nobody registered is not a key of a target file either
    assert "erp.yaml:3: echo: 'echo' is not a key of a target file" in message


def test_a_plugin_registered_in_code_parses_its_section_and_routes_and_builds_the_adapter(tmp_path: Path) -> None:
    registry = with_echo()
    config = load_target(write(tmp_path, ECHO_FILE), adapters=registry)
    assert config.adapter == "echo" and config.options == {"url": "echo://here", "loud": False}
    route = config.route("isthmus.canonical.Account", "create")
    assert isinstance(route, EchoRoute) and route.topic == "accounts" and route.line == 6
    assert route.ids == {"account_id": "result.0.id"} and route.plan() == "echo to accounts"
    adapter = build_adapter(config, SinkEnvironment.from_env({}), registry)
    assert isinstance(adapter, EchoAdapter) and adapter.config is config


def test_a_plugins_problems_carry_their_lines_and_its_route_keys_are_its_own(tmp_path: Path) -> None:
    text = ECHO_FILE.replace("echo://here", "http://here").replace("topic: accounts", "table: accounts")
    message = refused(write(tmp_path, text + "http: {base_url: http://x}\n"), with_echo())
    assert "erp.yaml:4: echo.url: 'http://here' is not an echo URL; fix: write echo://<host>" in message
    assert "erp.yaml:8: routes[0].table: 'table' is not a key of a route; fix: remove it, or use one of " \
           "payload_type, operation, ids, answers, gone, topic" in message
    assert "erp.yaml:6: routes[0].topic: topic is missing; fix: name the topic" in message
    assert "erp.yaml:10: http: an echo target has no http section; fix: remove http, or set adapter: http" \
        in message


def test_a_plugin_from_an_installed_packages_entry_point_is_found(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "isthmus_echo_plugin.py").write_text(textwrap.dedent("""\
        from streams.sinks.adapters.builtin import http as plugin
        not_a_plugin = object()
        """), encoding="utf-8")
    info = tmp_path / "isthmus_echo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: isthmus-echo-plugin\nVersion: 0.1\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text("[isthmus.targets]\necho = isthmus_echo_plugin:plugin\n"
                                           "broken = isthmus_echo_plugin:not_a_plugin\n"
                                           "gone = isthmus_no_such_module:plugin\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        registry = AdapterRegistry()
        assert "echo" in registry.names() and registry.get("echo") is http
        assert registry.source("echo") == "isthmus_echo_plugin:plugin"
        with pytest.raises(UnknownAdapter, match="isthmus_echo_plugin:not_a_plugin, which is a object, not an "
                                                 "AdapterPlugin"):
            registry.get("broken")
        message = refused(write(tmp_path, ECHO_FILE.replace("adapter: echo", "adapter: gone")), registry)
        assert "erp.yaml:2: adapter: adapter 'gone' is registered as isthmus_no_such_module:plugin, which cannot " \
               "be loaded (No module named 'isthmus_no_such_module'); fix: install the package" in message
    finally:
        sys.modules.pop("isthmus_echo_plugin", None)


def test_build_adapter_refuses_a_config_naming_an_unregistered_adapter(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, ECHO_FILE), adapters=with_echo())
    with pytest.raises(UnknownAdapter, match="'echo' is not an adapter: the registered ones are http, jsonrpc, sql"):
        build_adapter(config, SinkEnvironment.from_env({}), AdapterRegistry())


def test_an_http_target_with_no_base_url_anywhere_names_every_place_to_set_one(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, """\
        system: erp
        adapter: http
        routes:
          - {payload_type: Account, operation: create, method: POST, path: /accounts, body: {name: name}}
        """))
    with pytest.raises(TargetConfigError) as refusal:
        build_adapter(config, SinkEnvironment.from_env({}))
    said = str(refusal.value)
    assert "no base URL for erp's API" in said and "http.base_url in the target file" in said
    assert 'ISTHMUS_ENDPOINTS_API_URLS (a JSON object, e.g. {"erp": "https://api.example.com"})' in said
    assert "ISTHMUS_SINK_BASE_URL for this sink alone" in said
