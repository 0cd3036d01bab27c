"""How a sink applies one command to its target: over HTTP (declared routes, ``http``) or as a SQL upsert
(``sql``); ``base.Adapter`` is what the worker asks of either."""
