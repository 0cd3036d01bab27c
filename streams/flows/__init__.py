"""The streaming flows: Faust agents that decode, map, join and reconcile, exactly once."""
