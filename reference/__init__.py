"""The reference CRM and ERP: real HTTP APIs over their own databases, the systems Isthmus integrates."""
