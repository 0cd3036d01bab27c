from streams.errors import IsthmusError


class GeneratorError(IsthmusError):
    """Sample data could not be generated or loaded."""


class InvalidSpec(GeneratorError):
    """A generator option is out of range."""


class DataCollision(GeneratorError):
    """Rows the generator would write already exist in a database."""
