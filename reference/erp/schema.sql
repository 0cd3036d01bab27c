-- Reference ERP database (MariaDB, database `erp`).
-- The contract Isthmus captures with Debezium's MariaDB connector. Money is DECIMAL; order, invoice,
-- payment and shipment times are DATETIME in the ERP's configured local zone (default Asia/Shanghai),
-- stored without an offset, as many ERPs do.

CREATE TABLE IF NOT EXISTS accounts (
    account_id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    account_code         VARCHAR(20) NOT NULL UNIQUE,
    name                 VARCHAR(200) NOT NULL,
    email                VARCHAR(200),
    phone                VARCHAR(50),
    billing_line1        VARCHAR(200),
    billing_city         VARCHAR(100),
    billing_postal_code  VARCHAR(20),
    billing_country      CHAR(2),
    -- The cross-reference, written by Isthmus when it creates the account.
    crm_customer_number  VARCHAR(20) UNIQUE,
    credit_limit         DECIMAL(14, 2) NOT NULL DEFAULT 0,
    payment_terms        VARCHAR(16) NOT NULL DEFAULT 'NET30',
    blocked              BOOLEAN NOT NULL DEFAULT FALSE,
    active               BOOLEAN NOT NULL DEFAULT TRUE,
    version              INT NOT NULL DEFAULT 1,
    created_at           DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at           DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS products (
    sku          VARCHAR(40) NOT NULL PRIMARY KEY,
    description  VARCHAR(200) NOT NULL,
    unit_price   DECIMAL(12, 2) NOT NULL,
    uom          VARCHAR(8) NOT NULL DEFAULT 'EA'
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS warehouses (
    code  VARCHAR(10) NOT NULL PRIMARY KEY,
    name  VARCHAR(100) NOT NULL
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS stock (
    sku             VARCHAR(40) NOT NULL,
    warehouse_code  VARCHAR(10) NOT NULL,
    on_hand         DECIMAL(14, 3) NOT NULL DEFAULT 0,
    reserved        DECIMAL(14, 3) NOT NULL DEFAULT 0,
    version         INT NOT NULL DEFAULT 1,
    PRIMARY KEY (sku, warehouse_code),
    FOREIGN KEY (sku) REFERENCES products (sku),
    FOREIGN KEY (warehouse_code) REFERENCES warehouses (code)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS sales_orders (
    order_id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_no          VARCHAR(20) NOT NULL UNIQUE,
    account_id        BIGINT NOT NULL,
    crm_order_number  VARCHAR(20) UNIQUE,
    status            ENUM('reserved', 'shipped', 'invoiced', 'paid', 'cancelled') NOT NULL DEFAULT 'reserved',
    order_date        DATETIME(3) NOT NULL,
    currency          CHAR(3) NOT NULL DEFAULT 'CNY',
    total_amount      DECIMAL(14, 2) NOT NULL DEFAULT 0,
    version           INT NOT NULL DEFAULT 1,
    updated_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    FOREIGN KEY (account_id) REFERENCES accounts (account_id)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS sales_order_lines (
    order_id        BIGINT NOT NULL,
    line_no         INT NOT NULL,
    sku             VARCHAR(40) NOT NULL,
    warehouse_code  VARCHAR(10) NOT NULL,
    quantity        DECIMAL(14, 3) NOT NULL,
    unit_price      DECIMAL(12, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no),
    FOREIGN KEY (order_id) REFERENCES sales_orders (order_id),
    FOREIGN KEY (sku) REFERENCES products (sku)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS invoices (
    invoice_id  BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    invoice_no  VARCHAR(20) NOT NULL UNIQUE,
    order_id    BIGINT NOT NULL,
    account_id  BIGINT NOT NULL,
    amount      DECIMAL(14, 2) NOT NULL,
    issued_at   DATETIME(3) NOT NULL,
    due_date    DATE NOT NULL,
    status      ENUM('open', 'paid') NOT NULL DEFAULT 'open',
    FOREIGN KEY (order_id) REFERENCES sales_orders (order_id),
    FOREIGN KEY (account_id) REFERENCES accounts (account_id)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS payments (
    payment_id  BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    invoice_id  BIGINT NOT NULL,
    account_id  BIGINT NOT NULL,
    amount      DECIMAL(14, 2) NOT NULL,
    paid_at     DATETIME(3) NOT NULL,
    FOREIGN KEY (invoice_id) REFERENCES invoices (invoice_id)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS shipments (
    shipment_id  BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id     BIGINT NOT NULL,
    shipped_at   DATETIME(3) NOT NULL,
    carrier      VARCHAR(40) NOT NULL,
    tracking_no  VARCHAR(60),
    FOREIGN KEY (order_id) REFERENCES sales_orders (order_id)
) ENGINE = InnoDB;

-- One row per write the API accepted with an Idempotency-Key: a repeat returns the stored answer.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    idem_key      VARCHAR(200) NOT NULL PRIMARY KEY,
    method        VARCHAR(10) NOT NULL,
    path          VARCHAR(500) NOT NULL,
    request_hash  CHAR(64) NOT NULL,
    status_code   INT NOT NULL,
    response      LONGTEXT NOT NULL,
    created_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB;

-- Debezium's signal table (incremental snapshots).
CREATE TABLE IF NOT EXISTS debezium_signal (
    id    VARCHAR(64) NOT NULL PRIMARY KEY,
    type  VARCHAR(32) NOT NULL,
    data  VARCHAR(2048)
) ENGINE = InnoDB;
