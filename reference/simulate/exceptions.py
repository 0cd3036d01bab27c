from streams.errors import IsthmusError


class SimulationError(IsthmusError):
    """The activity simulator could not run."""


class InvalidSimulation(SimulationError):
    """A simulator option is out of range."""
