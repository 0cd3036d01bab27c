from streams.errors import IsthmusError


class StackError(IsthmusError):
    """The local stack could not be configured, set up, started or stopped."""


class StackConfigError(StackError):
    """A stack setting from the environment is invalid."""


class PrerequisiteMissing(StackError):
    """A program the stack needs is not installed."""


class ServiceStartError(StackError):
    """A service did not become healthy in time; the message names its log."""
