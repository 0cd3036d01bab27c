from streams.errors import IsthmusError


class ReferenceAppError(IsthmusError):
    """A reference application could not be configured, prepared or started."""


class ConfigError(ReferenceAppError):
    """An environment variable of a reference application is missing or invalid."""


class DatabaseUnreachable(ReferenceAppError):
    """The database of a reference application did not answer."""


class SchemaError(ReferenceAppError):
    """A schema.sql file could not be read or applied."""


class NotLoopback(ReferenceAppError):
    """An address that must be loopback is not."""
