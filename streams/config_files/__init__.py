"""What every config file shares (systems, mappings, flows, targets, connect-configs, warehouse tables,
columns files): the one YAML reader that keeps each value's line (``located_yaml``) and the one ``Problem``
a loader reports, so every refusal reads ``file:line: field: what; fix: how``."""
