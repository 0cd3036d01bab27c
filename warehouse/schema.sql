-- Isthmus warehouse: a star schema over the canonical records the flows publish from the CRM's and
-- the ERP's changes. Applied by the loader at start, inside the schema it is configured for
-- (search_path), so every statement is idempotent and unqualified. Every loaded table ends with the
-- same lineage columns: where the row came from (system, table, key), when the source committed it,
-- the exact canonical Kafka record it was loaded from (source_topic, source_partition, source_offset),
-- the Debezium record behind that (cdc_topic, cdc_partition, cdc_offset) and the canonical mapping
-- version that shaped it. A source delete keeps the row
-- with deleted = true, so its lineage survives; the views read only live rows.

CREATE TABLE IF NOT EXISTS dim_date (
    date_key     INTEGER PRIMARY KEY,
    full_date    DATE NOT NULL UNIQUE,
    year         SMALLINT NOT NULL,
    quarter      SMALLINT NOT NULL,
    month        SMALLINT NOT NULL,
    day          SMALLINT NOT NULL,
    iso_week     SMALLINT NOT NULL,
    iso_weekday  SMALLINT NOT NULL
);

INSERT INTO dim_date (date_key, full_date, year, quarter, month, day, iso_week, iso_weekday)
SELECT to_char(d, 'YYYYMMDD')::INTEGER, d::DATE, EXTRACT(YEAR FROM d), EXTRACT(QUARTER FROM d),
       EXTRACT(MONTH FROM d), EXTRACT(DAY FROM d), EXTRACT(WEEK FROM d), EXTRACT(ISODOW FROM d)
FROM generate_series(DATE '2000-01-01', DATE '2099-12-31', INTERVAL '1 day') AS d
ON CONFLICT (date_key) DO NOTHING;

CREATE TABLE IF NOT EXISTS dim_client (
    crm_customer_id     BIGINT PRIMARY KEY,
    client_code         TEXT NOT NULL UNIQUE,
    customer_number     TEXT NOT NULL,
    name                TEXT NOT NULL,
    email               TEXT,
    phone               TEXT,
    erp_account_id      BIGINT,
    credit_limit        NUMERIC(14, 2),
    payment_terms       TEXT,
    blocked             BOOLEAN,
    open_balance        NUMERIC(14, 2),
    created_at          TIMESTAMPTZ,
    attributes          JSONB NOT NULL DEFAULT '{}',
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    source_system       TEXT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    source_commit_time  TIMESTAMPTZ NOT NULL,
    source_topic        TEXT NOT NULL,
    source_partition    INTEGER NOT NULL,
    source_offset       BIGINT NOT NULL,
    mapping_version     TEXT NOT NULL,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS dim_account (
    erp_account_id       BIGINT PRIMARY KEY,
    account_code         TEXT NOT NULL,
    name                 TEXT NOT NULL,
    email                TEXT,
    phone                TEXT,
    crm_customer_number  TEXT,
    credit_limit         NUMERIC(14, 2),
    payment_terms        TEXT,
    blocked              BOOLEAN,
    active               BOOLEAN,
    attributes          JSONB NOT NULL DEFAULT '{}',
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    source_system       TEXT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    source_commit_time  TIMESTAMPTZ NOT NULL,
    source_topic        TEXT NOT NULL,
    source_partition    INTEGER NOT NULL,
    source_offset       BIGINT NOT NULL,
    mapping_version     TEXT NOT NULL,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dim_account_customer_idx ON dim_account (crm_customer_number);

CREATE TABLE IF NOT EXISTS dim_product (
    sku                 TEXT PRIMARY KEY,
    description         TEXT NOT NULL,
    unit_price          NUMERIC(12, 2) NOT NULL,
    uom                 TEXT,
    attributes          JSONB NOT NULL DEFAULT '{}',
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    source_system       TEXT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    source_commit_time  TIMESTAMPTZ NOT NULL,
    source_topic        TEXT NOT NULL,
    source_partition    INTEGER NOT NULL,
    source_offset       BIGINT NOT NULL,
    mapping_version     TEXT NOT NULL,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Current stock per SKU and ERP warehouse: the denominator of inventory turnover.
CREATE TABLE IF NOT EXISTS fact_stock (
    sku                 TEXT NOT NULL,
    warehouse_code      TEXT NOT NULL,
    on_hand             NUMERIC(14, 3) NOT NULL,
    reserved            NUMERIC(14, 3) NOT NULL,
    attributes          JSONB NOT NULL DEFAULT '{}',
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    source_system       TEXT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    source_commit_time  TIMESTAMPTZ NOT NULL,
    source_topic        TEXT NOT NULL,
    source_partition    INTEGER NOT NULL,
    source_offset       BIGINT NOT NULL,
    mapping_version     TEXT NOT NULL,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, warehouse_code)
);

-- CRM sales orders: the CRM side of a customer's activity (ordered_at is already an instant).
CREATE TABLE IF NOT EXISTS fact_crm_order (
    crm_order_id        BIGINT PRIMARY KEY,
    order_number        TEXT NOT NULL,
    crm_customer_id     BIGINT NOT NULL,
    status              TEXT NOT NULL,
    currency            TEXT NOT NULL,
    total_amount        NUMERIC(14, 2) NOT NULL,
    transaction_time    TIMESTAMPTZ NOT NULL,
    date_key            INTEGER REFERENCES dim_date (date_key),
    attributes          JSONB NOT NULL DEFAULT '{}',
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    source_system       TEXT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    source_commit_time  TIMESTAMPTZ NOT NULL,
    source_topic        TEXT NOT NULL,
    source_partition    INTEGER NOT NULL,
    source_offset       BIGINT NOT NULL,
    mapping_version     TEXT NOT NULL,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS fact_crm_order_customer_idx ON fact_crm_order (crm_customer_id);

-- ERP sales order headers: transaction_time is ERP.order_date converted from the ERP's zone to UTC.
CREATE TABLE IF NOT EXISTS fact_sales_order (
    order_id            BIGINT PRIMARY KEY,
    order_no            TEXT NOT NULL,
    account_id          BIGINT NOT NULL,
    crm_order_number    TEXT,
    status              TEXT NOT NULL,
    currency            TEXT NOT NULL,
    total_amount        NUMERIC(14, 2) NOT NULL,
    transaction_time    TIMESTAMPTZ NOT NULL,
    date_key            INTEGER REFERENCES dim_date (date_key),
    attributes          JSONB NOT NULL DEFAULT '{}',
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    source_system       TEXT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    source_commit_time  TIMESTAMPTZ NOT NULL,
    source_topic        TEXT NOT NULL,
    source_partition    INTEGER NOT NULL,
    source_offset       BIGINT NOT NULL,
    mapping_version     TEXT NOT NULL,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS fact_sales_order_account_idx ON fact_sales_order (account_id);

-- ERP order lines: transaction_time and date_key are their order's, filled when both have arrived.
CREATE TABLE IF NOT EXISTS fact_order_line (
    order_id            BIGINT NOT NULL,
    line_no             INTEGER NOT NULL,
    sku                 TEXT NOT NULL,
    warehouse_code      TEXT NOT NULL,
    quantity            NUMERIC(14, 3) NOT NULL,
    unit_price          NUMERIC(12, 2) NOT NULL,
    line_amount         NUMERIC(26, 5) GENERATED ALWAYS AS (quantity * unit_price) STORED,
    transaction_time    TIMESTAMPTZ,
    date_key            INTEGER REFERENCES dim_date (date_key),
    attributes          JSONB NOT NULL DEFAULT '{}',
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    source_system       TEXT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    source_commit_time  TIMESTAMPTZ NOT NULL,
    source_topic        TEXT NOT NULL,
    source_partition    INTEGER NOT NULL,
    source_offset       BIGINT NOT NULL,
    mapping_version     TEXT NOT NULL,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX IF NOT EXISTS fact_order_line_sku_idx ON fact_order_line (sku);

CREATE TABLE IF NOT EXISTS fact_invoice (
    invoice_id          BIGINT PRIMARY KEY,
    invoice_no          TEXT NOT NULL,
    order_id            BIGINT NOT NULL,
    account_id          BIGINT NOT NULL,
    amount              NUMERIC(14, 2) NOT NULL,
    transaction_time    TIMESTAMPTZ NOT NULL,
    date_key            INTEGER REFERENCES dim_date (date_key),
    due_date            DATE NOT NULL,
    status              TEXT NOT NULL,
    attributes          JSONB NOT NULL DEFAULT '{}',
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    source_system       TEXT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    source_commit_time  TIMESTAMPTZ NOT NULL,
    source_topic        TEXT NOT NULL,
    source_partition    INTEGER NOT NULL,
    source_offset       BIGINT NOT NULL,
    mapping_version     TEXT NOT NULL,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS fact_invoice_account_idx ON fact_invoice (account_id);
CREATE INDEX IF NOT EXISTS fact_invoice_order_idx ON fact_invoice (order_id);

CREATE TABLE IF NOT EXISTS fact_payment (
    payment_id          BIGINT PRIMARY KEY,
    invoice_id          BIGINT NOT NULL,
    account_id          BIGINT NOT NULL,
    amount              NUMERIC(14, 2) NOT NULL,
    transaction_time    TIMESTAMPTZ NOT NULL,
    date_key            INTEGER REFERENCES dim_date (date_key),
    attributes          JSONB NOT NULL DEFAULT '{}',
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    source_system       TEXT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT NOT NULL,
    source_commit_time  TIMESTAMPTZ NOT NULL,
    source_topic        TEXT NOT NULL,
    source_partition    INTEGER NOT NULL,
    source_offset       BIGINT NOT NULL,
    mapping_version     TEXT NOT NULL,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS fact_payment_invoice_idx ON fact_payment (invoice_id);

-- The loader's own consumer positions: committed in the same transaction as the rows they produced,
-- which makes the load exactly once into PostgreSQL (Kafka's group offsets are not used).
CREATE TABLE IF NOT EXISTS load_offsets (
    topic               TEXT NOT NULL,
    partition           INTEGER NOT NULL,
    next_offset         BIGINT NOT NULL,
    last_commit_time    TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Records the cleaning rules refused; each also went to the dead-letter topic with the same reason.
CREATE TABLE IF NOT EXISTS load_rejects (
    topic               TEXT NOT NULL,
    partition           INTEGER NOT NULL,
    "offset"            BIGINT NOT NULL,
    source_table        TEXT NOT NULL,
    source_key          TEXT,
    reason              TEXT NOT NULL,
    rejected_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);

-- The Debezium record behind each row's canonical record (added when the loader moved from the CDC
-- topics to the canonical topics; rows loaded before have none).
DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['dim_client', 'dim_account', 'dim_product', 'fact_stock', 'fact_crm_order',
                             'fact_sales_order', 'fact_order_line', 'fact_invoice', 'fact_payment'] LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS cdc_topic TEXT, '
                       'ADD COLUMN IF NOT EXISTS cdc_partition INTEGER, '
                       'ADD COLUMN IF NOT EXISTS cdc_offset BIGINT', t);
    END LOOP;
END $$;
