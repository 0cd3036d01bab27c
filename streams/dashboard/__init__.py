"""The live dashboard (``isthmus dashboard``): connectors, flows, lag, dead letters, conflicts, customer 360."""
