"""Kafka plumbing every stage shares: topic creation, dead-letter records."""
