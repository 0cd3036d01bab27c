"""Runtime settings of every Isthmus process, apart from the local stack (which is one source of them).

``RuntimeSettings.load`` layers the environment, a ``--config`` file and the stack's offer over each field's
default; ``client_kwargs`` gives every Kafka client its connection and security keywords, ``producer_kwargs``
a producer those and its codec.
"""

from typing import TYPE_CHECKING

from streams.config.connect import ConnectSettings
from streams.config.dirs import DirectorySettings
from streams.config.exceptions import RuntimeConfigError
from streams.config.kafka import KafkaAddress, KafkaSettings, client_kwargs, kafka_settings, producer_kwargs

if TYPE_CHECKING:
    from streams.config.model import RuntimeSettings


def __getattr__(name: str) -> object:
    """``RuntimeSettings`` on first use: the model gathers every process's section (streams/worker/settings.py,
    ...), whose modules import streams.config.kafka; importing it here would make that a cycle."""
    if name == "RuntimeSettings":
        from streams.config.model import RuntimeSettings
        return RuntimeSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConnectSettings", "DirectorySettings", "KafkaAddress", "KafkaSettings", "RuntimeConfigError",
           "RuntimeSettings", "client_kwargs", "kafka_settings", "producer_kwargs"]
