"""The JSON-RPC target adapter (``adapter: jsonrpc`` in a target file; see targets/README.md), registered as
the ``isthmus.targets`` entry point ``jsonrpc`` (pyproject.toml) by :data:`plugin`."""

from streams.sinks.adapters.jsonrpc.adapter import JsonRpcAdapter, build_jsonrpc
from streams.sinks.adapters.jsonrpc.config import ROUTE_KEYS, parse_route, parse_section
from streams.sinks.adapters.registry import AdapterPlugin
from streams.sinks.adapters.session import LoginRefused

plugin = AdapterPlugin(summary="a JSON-RPC API (templated params, session login, external-id upsert)",
                       build=build_jsonrpc, route=parse_route, route_keys=ROUTE_KEYS, section=parse_section)

__all__ = ["JsonRpcAdapter", "LoginRefused", "build_jsonrpc", "plugin"]
