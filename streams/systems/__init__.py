"""The systems Isthmus bridges, as data: one ``systems/<name>.yaml`` each (engine, connector, topic naming,
time zone of zone-less times, whether it is writable and through which target)."""

from streams.systems.exceptions import SystemConfigError, UnknownSystem
from streams.systems.loader import SYSTEMS_DIR, load_systems, systems_dir
from streams.systems.model import Engine, Systems, SystemSpec, TopicNaming

__all__ = ["SYSTEMS_DIR", "Engine", "SystemConfigError", "SystemSpec", "Systems", "TopicNaming", "UnknownSystem",
           "load_systems", "systems_dir"]
