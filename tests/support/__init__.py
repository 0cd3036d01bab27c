"""Helpers shared by test folders (on the path through pytest's ``pythonpath``)."""
