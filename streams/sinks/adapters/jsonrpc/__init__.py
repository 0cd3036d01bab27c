"""The JSON-RPC target adapter (``adapter: jsonrpc`` in a target file; see targets/README.md)."""

from streams.sinks.adapters.jsonrpc.adapter import JsonRpcAdapter, LoginRefused

__all__ = ["JsonRpcAdapter", "LoginRefused"]
