-- docker-compose only: the privileges Debezium's MariaDB connector needs (the local stack grants the same
-- in streams/stack/services/erp_db.py).
GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR, LOCK TABLES ON *.* TO 'isthmus'@'%';
