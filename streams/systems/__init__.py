"""The systems Isthmus bridges, as data: one ``systems/<name>.yaml`` each (engine, connector, topic naming,
time zone of zone-less times, precision of commit times, whether it is writable and through which target; or
``capture: none`` for a system Isthmus only writes into)."""

from streams.systems.exceptions import NotCaptured, SystemConfigError, UnknownSystem
from streams.systems.loader import SYSTEMS_DIR, load_systems, systems_dir
from streams.systems.model import ClockPrecision, Engine, Systems, SystemSpec, TopicNaming

__all__ = ["SYSTEMS_DIR", "ClockPrecision", "Engine", "NotCaptured", "SystemConfigError", "SystemSpec", "Systems",
           "TopicNaming", "UnknownSystem", "load_systems", "systems_dir"]
