"""A secured, multi-broker Kafka cluster of local processes, for tests and the chaos suite (not runtime).

Three KRaft nodes with SASL_SSL (SCRAM-SHA-512) listeners, TLS certificates made by ``keytool``, ACLs under
the StandardAuthorizer, and a Kafka Connect worker speaking SASL_SSL to them: the shape of the clusters users
run (issue 16, item 3), from the local stack's jars.
"""
