"""The streaming flows: handlers that decode, map, join and reconcile, run exactly once by ``engine``."""
