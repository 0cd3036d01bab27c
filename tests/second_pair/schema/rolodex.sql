-- "Rolodex": a CRM of the second pair (PostgreSQL, schema rolodex in the stack's CRM server). It shares no
-- table or column name with the reference CRM and ERP: people and companies are both parties (party_kind),
-- contacts are rows of a child table keyed by (org_party, seq), the soft-delete flag lives in a side table
-- keyed by the party. What the ERP owns (the debitor's id, credit line, terms, hold) Isthmus writes into the
-- party row (targets/rolodex.yaml, action update: the CRM creates its rows).
-- Applied by tests/second_pair/conftest.py; idempotent.
CREATE SCHEMA IF NOT EXISTS rolodex;
SET search_path TO rolodex;

CREATE TABLE IF NOT EXISTS party (
    party_id     BIGSERIAL PRIMARY KEY,
    party_kind   TEXT NOT NULL CHECK (party_kind IN ('company', 'person')),
    display_name TEXT NOT NULL,
    mail         TEXT,
    tel          TEXT,
    -- the customer reference (K-00017): the business key the ERP's debitor carries back
    cust_ref     TEXT UNIQUE,
    -- the ERP's: the debitor's own id (the link) and its credit data
    ledger_uid   BIGINT,
    credit_line  NUMERIC(14, 2),
    terms_code   TEXT,
    on_hold      BOOLEAN NOT NULL DEFAULT false,
    touched_on   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- captured, not mapped: a REAL's Connect schema (JsonConverter's "float") must decode like any column
    score        REAL DEFAULT 0.5
);

-- Contacts of a company: rows of a child table with a composite key.
CREATE TABLE IF NOT EXISTS party_contact (
    org_party   BIGINT NOT NULL REFERENCES party (party_id),
    seq         INTEGER NOT NULL,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    mail_addr   TEXT,
    tel_no      TEXT,
    job_title   TEXT,
    PRIMARY KEY (org_party, seq)
);

-- The soft delete: a party is archived, never deleted.
CREATE TABLE IF NOT EXISTS party_flag (
    flagged_party BIGINT PRIMARY KEY REFERENCES party (party_id),
    archived      BOOLEAN NOT NULL DEFAULT false
);

-- Before-images of updates and deletes for every captured table.
ALTER TABLE party REPLICA IDENTITY FULL;
ALTER TABLE party_contact REPLICA IDENTITY FULL;
ALTER TABLE party_flag REPLICA IDENTITY FULL;
