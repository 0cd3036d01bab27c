"""Realistic activity on both reference apps, through their HTTP APIs, at a chosen rate.

``simulate(spec)`` is the importable entry; ``python -m reference.simulate`` the command.
"""

from reference.simulate.runner import SimulationSpec, SimulationSummary, simulate

__all__ = ["SimulationSpec", "SimulationSummary", "simulate"]
