"""Topic inspection: read, decode, filter, seek, mask and format Isthmus's Kafka topics.

``decoding`` recognises a record by its content (Avro single-object, Debezium JSON, plain JSON, text);
``expressions`` is the small ``--where`` language; ``masking`` hides personal data (fields marked ``pii`` in
schemas/, and the source columns mapped to them); ``roles`` decides who may unmask; ``reader`` seeks and
reads; ``admin`` lists topics, offsets and lag; ``trace`` follows one entity through every topic.
"""
