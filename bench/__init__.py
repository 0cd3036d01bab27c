"""`make bench`: Isthmus measured on the real local stack (see bench/README.md)."""
