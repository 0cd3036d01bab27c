"""The local stack: Kafka, Kafka Connect with Debezium, the CRM and ERP databases and the reference apps,
run as processes."""
