"""What every Isthmus process's /metrics is made of: prometheus_client, one ``CollectorRegistry`` per process
(never the library's global default, so one test can build several), latency buckets, and the serving."""
