"""A Faust app for the exactly-once probe: consume, count per key in a table, produce, in transactions.

Configured by environment (EOS_BROKER, EOS_APP_ID, EOS_IN, EOS_OUT, EOS_DATADIR) so a test can run it as a
real worker process: `python -m faust -A eos_app worker`.
"""

import os

import faust

from streams.flows.transactions import send_in_transaction

app = faust.App(
    os.environ["EOS_APP_ID"],
    broker=f"kafka://{os.environ['EOS_BROKER']}",
    processing_guarantee="exactly_once",
    store="memory://",
    topic_partitions=2,
    topic_replication_factor=1,
    web_enabled=False,
    datadir=os.environ["EOS_DATADIR"],
    broker_commit_every=50,
    broker_session_timeout=10.0,
    broker_heartbeat_interval=2.0,
)
source = app.topic(os.environ["EOS_IN"], key_serializer="raw", value_serializer="raw", partitions=2)
sink = app.topic(os.environ["EOS_OUT"], key_serializer="raw", value_serializer="raw", partitions=2)
counts = app.Table("counts", default=int, partitions=2, key_type=bytes, value_type=int)


@app.agent(source)
async def count_and_forward(stream: faust.StreamT) -> None:
    async for event in stream.events():
        key = event.key
        counts[key] += 1
        await send_in_transaction(app, event.message.tp, sink.get_topic_name(), key=key,
                                  value=event.value + b"|" + str(counts[key]).encode())
