-- Reference CRM database (PostgreSQL, database `crm`, schema `crm`).
-- The contract Isthmus captures with Debezium's PostgreSQL connector. Money is NUMERIC, times are TIMESTAMPTZ.
CREATE SCHEMA IF NOT EXISTS crm;
SET search_path TO crm;

CREATE TABLE IF NOT EXISTS customers (
    id               BIGSERIAL PRIMARY KEY,
    customer_number  TEXT NOT NULL UNIQUE CHECK (customer_number ~ '^C-[0-9]{6,}$'),
    name             TEXT NOT NULL,
    email            TEXT,
    phone            TEXT,
    -- Mirrored from the ERP, which owns them; written by Isthmus through the API.
    erp_account_id   BIGINT UNIQUE,
    credit_limit     NUMERIC(14, 2),
    payment_terms    TEXT,
    blocked          BOOLEAN NOT NULL DEFAULT FALSE,
    open_balance     NUMERIC(14, 2) NOT NULL DEFAULT 0,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS contacts (
    id           BIGSERIAL PRIMARY KEY,
    customer_id  BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    email        TEXT,
    phone        TEXT,
    role         TEXT,
    version      INTEGER NOT NULL DEFAULT 1,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS addresses (
    id           BIGSERIAL PRIMARY KEY,
    customer_id  BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('billing', 'shipping')),
    line1        TEXT NOT NULL,
    line2        TEXT,
    city         TEXT NOT NULL,
    postal_code  TEXT,
    country      CHAR(2) NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (customer_id, kind)
);

CREATE TABLE IF NOT EXISTS products (
    sku            TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    list_price     NUMERIC(12, 2) NOT NULL,
    -- ERP on-hand minus reserved, summed over warehouses; written by Isthmus.
    available_qty  NUMERIC(14, 3) NOT NULL DEFAULT 0,
    version        INTEGER NOT NULL DEFAULT 1,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sales_orders (
    id            BIGSERIAL PRIMARY KEY,
    order_number  TEXT NOT NULL UNIQUE CHECK (order_number ~ '^SO-[0-9]{6,}$'),
    customer_id   BIGINT NOT NULL REFERENCES customers (id),
    status        TEXT NOT NULL DEFAULT 'submitted'
                  CHECK (status IN ('draft', 'submitted', 'on_hold', 'reserved', 'shipped', 'invoiced', 'paid',
                                    'cancelled')),
    currency      CHAR(3) NOT NULL DEFAULT 'CNY',
    total_amount  NUMERIC(14, 2) NOT NULL DEFAULT 0,
    erp_order_id  BIGINT UNIQUE,
    ordered_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    version       INTEGER NOT NULL DEFAULT 1,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sales_order_lines (
    id          BIGSERIAL PRIMARY KEY,
    order_id    BIGINT NOT NULL REFERENCES sales_orders (id) ON DELETE CASCADE,
    line_no     INTEGER NOT NULL,
    sku         TEXT NOT NULL REFERENCES products (sku),
    quantity    NUMERIC(14, 3) NOT NULL CHECK (quantity > 0),
    unit_price  NUMERIC(12, 2) NOT NULL,
    UNIQUE (order_id, line_no)
);

-- Foreign keys PostgreSQL does not index by itself: a customer's contacts and orders are looked up by them.
CREATE INDEX IF NOT EXISTS contacts_customer_id_idx ON contacts (customer_id);
CREATE INDEX IF NOT EXISTS sales_orders_customer_id_idx ON sales_orders (customer_id);

-- One row per write the API accepted with an Idempotency-Key: a repeat returns the stored answer.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    idem_key      TEXT PRIMARY KEY,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    response      JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Debezium's signal table (incremental snapshots).
CREATE TABLE IF NOT EXISTS debezium_signal (
    id    VARCHAR(64) PRIMARY KEY,
    type  VARCHAR(32) NOT NULL,
    data  VARCHAR(2048)
);

-- Before-images for updates and deletes.
ALTER TABLE customers REPLICA IDENTITY FULL;
ALTER TABLE sales_orders REPLICA IDENTITY FULL;
ALTER TABLE products REPLICA IDENTITY FULL;

-- A database made before 'on_hold' existed gets the status check that allows it (once; a no-op after).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'sales_orders'::regclass AND conname = 'sales_orders_status_check'
                     AND pg_get_constraintdef(oid) LIKE '%on_hold%') THEN
        ALTER TABLE sales_orders DROP CONSTRAINT IF EXISTS sales_orders_status_check;
        ALTER TABLE sales_orders ADD CONSTRAINT sales_orders_status_check
            CHECK (status IN ('draft', 'submitted', 'on_hold', 'reserved', 'shipped', 'invoiced', 'paid',
                              'cancelled'));
    END IF;
END $$;
