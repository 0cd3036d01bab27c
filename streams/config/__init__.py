"""Runtime settings of every Isthmus process, apart from the local stack (which is one source of them).

``RuntimeSettings.load`` layers the environment, a ``--config`` file and the stack's offer over each field's
default; ``client_kwargs`` gives every Kafka client its connection and security keywords.
"""

from streams.config.connect import ConnectSettings
from streams.config.dirs import DirectorySettings
from streams.config.exceptions import RuntimeConfigError
from streams.config.kafka import KafkaAddress, KafkaSettings, client_kwargs, kafka_settings
from streams.config.model import RuntimeSettings

__all__ = ["ConnectSettings", "DirectorySettings", "KafkaAddress", "KafkaSettings", "RuntimeConfigError",
           "RuntimeSettings", "client_kwargs", "kafka_settings"]
