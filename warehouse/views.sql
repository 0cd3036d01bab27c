-- BI views over the star schema; live rows only (a source delete sets deleted = true).
-- Applied after schema.sql on every loader start (CREATE OR REPLACE, so a changed view is picked up).

-- Customer lifetime value: CRM activity (orders placed in the CRM) joined with the ERP's transactions
-- (invoices and payments of the ERP account linked to the customer through the cross-reference).
CREATE OR REPLACE VIEW v_customer_lifetime_value AS
WITH crm AS (
    SELECT crm_customer_id, count(*) AS crm_orders, sum(total_amount) AS crm_ordered_amount,
           min(transaction_time) AS first_order_time, max(transaction_time) AS last_order_time
    FROM fact_crm_order WHERE NOT deleted AND status <> 'cancelled'
    GROUP BY crm_customer_id
), accounts AS (
    SELECT c.crm_customer_id, a.erp_account_id
    FROM dim_client c
    JOIN dim_account a ON NOT a.deleted
         AND (a.crm_customer_number = c.customer_number OR a.erp_account_id = c.erp_account_id)
    WHERE NOT c.deleted
), invoiced AS (
    SELECT x.crm_customer_id, count(*) AS invoices, sum(i.amount) AS invoiced_amount
    FROM accounts x JOIN fact_invoice i ON i.account_id = x.erp_account_id AND NOT i.deleted
    GROUP BY x.crm_customer_id
), paid AS (
    SELECT x.crm_customer_id, count(*) AS payments, sum(p.amount) AS paid_amount,
           max(p.transaction_time) AS last_payment_time
    FROM accounts x JOIN fact_payment p ON p.account_id = x.erp_account_id AND NOT p.deleted
    GROUP BY x.crm_customer_id
)
SELECT c.client_code, c.customer_number, c.name,
       coalesce(crm.crm_orders, 0) AS crm_orders,
       coalesce(crm.crm_ordered_amount, 0) AS crm_ordered_amount,
       crm.first_order_time, crm.last_order_time,
       coalesce(invoiced.invoices, 0) AS invoices,
       coalesce(invoiced.invoiced_amount, 0) AS invoiced_amount,
       coalesce(paid.payments, 0) AS payments,
       coalesce(paid.paid_amount, 0) AS lifetime_value,
       coalesce(invoiced.invoiced_amount, 0) - coalesce(paid.paid_amount, 0) AS open_amount,
       paid.last_payment_time
FROM dim_client c
LEFT JOIN crm ON crm.crm_customer_id = c.crm_customer_id
LEFT JOIN invoiced ON invoiced.crm_customer_id = c.crm_customer_id
LEFT JOIN paid ON paid.crm_customer_id = c.crm_customer_id
WHERE NOT c.deleted;

-- Inventory turnover per SKU: quantity sold on ERP orders (not cancelled) over the current on-hand stock
-- summed across ERP warehouses (the warehouse keeps the current stock, not its history, so the current
-- level stands in for the average inventory).
CREATE OR REPLACE VIEW v_inventory_turnover AS
WITH sold AS (
    SELECT l.sku, sum(l.quantity) AS quantity_sold, sum(l.line_amount) AS revenue,
           min(l.transaction_time) AS first_sale_time, max(l.transaction_time) AS last_sale_time
    FROM fact_order_line l
    JOIN fact_sales_order o ON o.order_id = l.order_id AND NOT o.deleted AND o.status <> 'cancelled'
    WHERE NOT l.deleted
    GROUP BY l.sku
), stock AS (
    SELECT sku, sum(on_hand) AS on_hand, sum(reserved) AS reserved
    FROM fact_stock WHERE NOT deleted GROUP BY sku
)
SELECT p.sku, p.description,
       coalesce(sold.quantity_sold, 0) AS quantity_sold,
       coalesce(sold.revenue, 0) AS revenue,
       coalesce(stock.on_hand, 0) AS on_hand,
       coalesce(stock.reserved, 0) AS reserved,
       round(sold.quantity_sold / nullif(stock.on_hand, 0), 4) AS turnover_ratio,
       round(stock.on_hand / nullif(sold.quantity_sold
             / greatest(1, extract(EPOCH FROM sold.last_sale_time - sold.first_sale_time) / 86400), 0), 1)
           AS days_of_supply,
       sold.first_sale_time, sold.last_sale_time
FROM dim_product p
LEFT JOIN sold ON sold.sku = p.sku
LEFT JOIN stock ON stock.sku = p.sku
WHERE NOT p.deleted;

-- Order to cash per ERP order: ordered, first invoiced, and paid in full (the last payment that brought
-- the payments up to the invoiced amount); cycle_days is null until the order is paid in full.
CREATE OR REPLACE VIEW v_order_to_cash AS
WITH invoiced AS (
    SELECT order_id, sum(amount) AS invoiced_amount, min(transaction_time) AS first_invoice_time
    FROM fact_invoice WHERE NOT deleted GROUP BY order_id
), paid AS (
    SELECT i.order_id, sum(p.amount) AS paid_amount, max(p.transaction_time) AS last_payment_time
    FROM fact_payment p JOIN fact_invoice i ON i.invoice_id = p.invoice_id AND NOT i.deleted
    WHERE NOT p.deleted
    GROUP BY i.order_id
)
SELECT o.order_id, o.order_no, o.account_id, o.status,
       o.transaction_time AS order_time,
       invoiced.first_invoice_time,
       coalesce(invoiced.invoiced_amount, 0) AS invoiced_amount,
       coalesce(paid.paid_amount, 0) AS paid_amount,
       CASE WHEN paid.paid_amount >= invoiced.invoiced_amount THEN paid.last_payment_time END AS cash_time,
       round(extract(EPOCH FROM invoiced.first_invoice_time - o.transaction_time) / 86400, 3)
           AS order_to_invoice_days,
       CASE WHEN paid.paid_amount >= invoiced.invoiced_amount
            THEN round(extract(EPOCH FROM paid.last_payment_time - o.transaction_time) / 86400, 3) END
           AS cycle_days
FROM fact_sales_order o
LEFT JOIN invoiced ON invoiced.order_id = o.order_id
LEFT JOIN paid ON paid.order_id = o.order_id
WHERE NOT o.deleted;

-- Freshness per source table: the newest source commit loaded, when it was loaded, and how old it is.
CREATE OR REPLACE VIEW v_freshness AS
SELECT source_system, source_table,
       count(*) FILTER (WHERE NOT deleted) AS live_rows,
       max(source_commit_time) AS last_source_commit_time,
       max(loaded_at) AS last_loaded_at,
       now() - max(source_commit_time) AS age
FROM (
    SELECT source_system, source_table, deleted, source_commit_time, loaded_at FROM dim_client
    UNION ALL SELECT source_system, source_table, deleted, source_commit_time, loaded_at FROM dim_account
    UNION ALL SELECT source_system, source_table, deleted, source_commit_time, loaded_at FROM dim_product
    UNION ALL SELECT source_system, source_table, deleted, source_commit_time, loaded_at FROM fact_stock
    UNION ALL SELECT source_system, source_table, deleted, source_commit_time, loaded_at FROM fact_crm_order
    UNION ALL SELECT source_system, source_table, deleted, source_commit_time, loaded_at FROM fact_sales_order
    UNION ALL SELECT source_system, source_table, deleted, source_commit_time, loaded_at FROM fact_order_line
    UNION ALL SELECT source_system, source_table, deleted, source_commit_time, loaded_at FROM fact_invoice
    UNION ALL SELECT source_system, source_table, deleted, source_commit_time, loaded_at FROM fact_payment
) AS loaded
GROUP BY source_system, source_table;
