"""The running stack's offer to the runtime settings, for tests that build runtime pieces against it.

Runtime modules never import the stack (tests/config/test_runtime_apart_from_stack.py): the CLI passes the
stack's offer in (streams/cli/runtime.py), and so do tests, in one line, through these helpers.
"""

from __future__ import annotations

from collections.abc import Mapping

from streams.config.model import Layer, RuntimeSettings
from streams.sinks.environment import SinkEnvironment
from streams.stack.offer import runtime_offer
from streams.stack.settings import StackSettings


def offer(settings: StackSettings | None = None) -> Layer:
    """What the stack of ``settings`` (default: the environment's) offers, by section and field."""
    return runtime_offer(settings or StackSettings.from_env())


def stack_runtime(settings: StackSettings | None = None, env: Mapping[str, str] | None = None) -> RuntimeSettings:
    """The runtime settings of the stack's offer, under ``env`` (default: none, the offer alone)."""
    return RuntimeSettings.load(env or {}, stack=offer(settings))


def sink_environment(env: Mapping[str, str], settings: StackSettings | None = None) -> SinkEnvironment:
    """A sink's environment from ``env`` over the stack's offer (its broker, reference APIs, databases)."""
    return SinkEnvironment.from_env(env, stack=offer(settings))
