-- docker-compose only: the privileges Debezium's MariaDB connector needs (the local stack grants the same
-- in streams/stack/services/erp_db.py).
GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR, LOCK TABLES ON *.* TO 'isthmus'@'%';
-- Scratch ERP databases of tests and tools (erp_*), as in the local stack.
GRANT ALL PRIVILEGES ON `erp\_%`.* TO 'isthmus'@'%';
