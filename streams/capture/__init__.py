"""Capture: Debezium connector configs in ``connect-configs/`` and their life in Kafka Connect.

``configs`` loads a connector file, merges the environment overlay and resolves our ``{{...}}``
placeholders; ``validation`` checks the result before anything reaches Connect; ``client`` speaks
Connect's REST API; ``deploy`` puts configs and waits for them to run; ``signals`` asks a running
connector for an incremental snapshot through its signal table.
"""
