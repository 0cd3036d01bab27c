"""The reference ERP: accounts, products, warehouses, stock, sales orders, shipments, invoices and payments
over MariaDB, with order times stored as local time of a configured zone, without an offset."""
