-- "Ledger": an ERP of the second pair (MariaDB, database isthmus_ledger on the stack's ERP server). It shares
-- no table or column name with the reference CRM and ERP. A debitor's primary key is composite
-- (company_code, debitor_no); debitor_uid is the ERP's own id, assigned by the database. Times are local,
-- whole-second DATETIMEs (systems/ledger.yaml: time_zone Europe/Berlin).
-- Applied by tests/second_pair/conftest.py with the database selected; idempotent.
CREATE TABLE IF NOT EXISTS debitor (
    company_code CHAR(4)       NOT NULL,
    debitor_no   VARCHAR(20)   NOT NULL,
    debitor_uid  BIGINT        NOT NULL AUTO_INCREMENT,
    crm_ref      VARCHAR(20)   NULL,
    title        VARCHAR(200)  NOT NULL,
    mail_addr    VARCHAR(200)  NULL,
    tel_no       VARCHAR(50)   NULL,
    credit_amt   DECIMAL(14,2) NOT NULL DEFAULT 0.00,
    pay_terms    VARCHAR(16)   NOT NULL DEFAULT 'NET30',
    hold_flag    TINYINT(1)    NOT NULL DEFAULT 0,
    is_live      TINYINT(1)    NOT NULL DEFAULT 1,
    changed      DATETIME      NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    -- captured, not mapped: a DOUBLE's Connect schema (JsonConverter's "double") must decode like any column
    discount     DOUBLE        NOT NULL DEFAULT 0.125,
    PRIMARY KEY (company_code, debitor_no),
    UNIQUE KEY debitor_uid_unique (debitor_uid),
    UNIQUE KEY debitor_crm_ref_unique (crm_ref)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
