"""The reference CRM: customers, contacts, addresses, products and sales orders over PostgreSQL."""
