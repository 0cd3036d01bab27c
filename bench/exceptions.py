"""Errors of the benchmark harness."""

from streams.errors import IsthmusError


class BenchError(IsthmusError):
    """A benchmark could not run or did not finish within its bound."""
