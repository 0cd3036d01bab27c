"""The local stack: Kafka, Kafka Connect with Debezium, the CRM and ERP databases and reference apps, run as processes."""
