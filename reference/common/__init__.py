"""What the reference CRM and ERP share: configuration, errors, idempotency, concurrency, faults, serving."""
