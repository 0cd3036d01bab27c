"""`isthmus worker`: one process running the flows on the exactly-once engine; start several for a fleet."""
