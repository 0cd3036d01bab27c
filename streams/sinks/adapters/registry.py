"""Adapters are plugins: a target file names its adapter (``adapter: jsonrpc``) by the name it is registered
under in the entry-point group ``isthmus.targets``. The entry point names an :class:`AdapterPlugin`, which
builds the adapter and may own the target file's ``<name>:`` section and its routes' keys, so a new kind of
target needs no change here or in the loader:

    [project.entry-points."isthmus.targets"]
    soap = "my_package.soap:plugin"

Plugins are found through the installed packages' metadata; the shipped ones are also listed in
:data:`BUILT_IN`, so a checkout whose editable install predates their entry points still finds them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, partial
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from streams.sinks.exceptions import UnknownAdapter

if TYPE_CHECKING:
    from streams.sinks.adapters.base import Adapter
    from streams.sinks.config.loader import Key, RouteHead, TargetReader
    from streams.sinks.config.model import Route, TargetConfig
    from streams.sinks.environment import SinkEnvironment

ENTRY_POINT_GROUP = "isthmus.targets"

#: The shipped adapters, as ``module:attribute`` like their entry points in pyproject.toml.
BUILT_IN: Mapping[str, str] = {
    "http": "streams.sinks.adapters.builtin:http",
    "sql": "streams.sinks.adapters.builtin:sql",
    "jsonrpc": "streams.sinks.adapters.jsonrpc:plugin",
}

HOW_TO_REGISTER = (f'register one as an entry point of group {ENTRY_POINT_GROUP} in the pyproject.toml of an '
                   f'installed package ([project.entry-points."{ENTRY_POINT_GROUP}"] name = "package.module:plugin", '
                   "an AdapterPlugin; see targets/README.md, \"Adapters as plugins\"), then reinstall it")

#: ``(config, environment) -> adapter``: called once per worker, after the file loaded without problems.
AdapterFactory = Callable[["TargetConfig", "SinkEnvironment"], "Adapter"]
#: ``(section, reader) -> options``: the ``<name>:`` section of the target file (None when the file has none),
#: checked through the reader (``reader.problem(key, message, fix)`` for each problem, with its line); what it
#: returns becomes ``TargetConfig.options``.
SectionParser = Callable[[Any, "TargetReader"], Any]
#: ``(route, key, head, reader) -> route or None``: one route of the file (its keys are checked against
#: ``route_keys`` first); ``head`` holds what every route has: payload type, operation, payload shape, ids and
#: answer rules. Returns None after reporting a problem.
RouteParser = Callable[[dict[str, Any], "Key", "RouteHead", "TargetReader"], "Route | None"]


@dataclass(frozen=True, kw_only=True)
class AdapterPlugin:
    """What an ``isthmus.targets`` entry point names."""

    #: One line for lists of adapters: what the adapter writes to (``an HTTP API``).
    summary: str
    build: AdapterFactory
    route: RouteParser
    #: The route keys this adapter reads, besides payload_type, operation, ids and answers.
    route_keys: tuple[str, ...]
    section: SectionParser | None = None


def _load_reference(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    value: Any = importlib.import_module(module)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    return value


class AdapterRegistry:
    """The adapters a target file may name. ``register`` adds one in code (an embedding, a test)."""

    def __init__(self, *, group: str = ENTRY_POINT_GROUP, built_in: Mapping[str, str] = BUILT_IN) -> None:
        self._sources: dict[str, str] = dict(built_in)
        self._loaders: dict[str, Callable[[], Any]] = {
            name: partial(_load_reference, reference) for name, reference in built_in.items()}
        for point in entry_points(group=group):
            self._sources[point.name] = point.value
            self._loaders[point.name] = point.load
        self._loaded: dict[str, AdapterPlugin] = {}

    def register(self, name: str, plugin: AdapterPlugin) -> None:
        self._sources[name] = f"registered in code ({plugin.summary})"
        self._loaded[name] = plugin

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._sources))

    def source(self, name: str) -> str:
        return self._sources[name]

    def get(self, name: str) -> AdapterPlugin:
        """The plugin registered as ``name``; ``UnknownAdapter`` naming the registered ones and how to register,
        or why a registered one cannot be loaded."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._sources:
            raise UnknownAdapter(f"{name!r} is not an adapter: the registered ones are {', '.join(self.names())}; "
                                 f"fix: use one of them, or {HOW_TO_REGISTER}")
        try:
            plugin = self._loaders[name]()
        except (ImportError, AttributeError) as exc:
            raise UnknownAdapter(f"adapter {name!r} is registered as {self._sources[name]}, which cannot be loaded "
                                 f"({exc}); fix: install the package that provides it (make setup for the shipped "
                                 "ones)") from exc
        if not isinstance(plugin, AdapterPlugin):
            raise UnknownAdapter(f"adapter {name!r} is registered as {self._sources[name]}, which is a "
                                 f"{type(plugin).__name__}, not an AdapterPlugin; fix: point the entry point at an "
                                 "AdapterPlugin (streams.sinks.adapters.registry)")
        self._loaded[name] = plugin
        return plugin


@cache
def default_registry() -> AdapterRegistry:
    """The adapters of the installed packages (found once per process)."""
    return AdapterRegistry()
