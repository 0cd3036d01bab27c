"""Debezium change events as Kafka Connect's JsonConverter writes them, with schemas enabled."""
