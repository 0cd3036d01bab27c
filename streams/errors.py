"""The root of every error Isthmus raises on purpose; each package subclasses it in its own exceptions module."""


class IsthmusError(Exception):
    """Something Isthmus detected and can explain: the message says what, where, and what to do."""
