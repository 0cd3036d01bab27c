"""Reading Kafka's transactions tool: what `isthmus topics hanging` and the chaos watchdog act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.kafka.hanging import (
    HangingTransaction,
    HangingTransactionToolError,
    TransactionsTool,
    find_hanging,
    parse_find_hanging,
)

pytestmark = pytest.mark.unit

#: What find-hanging printed for the transactions a broker restart left behind in the failed 100,000-change
#: chaos run (shortened to two rows), with the logging framework's start-up lines it prints first.
HEADER = "\t".join(["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset",
                    "LastTimestamp", "Duration(min)", ""])
FOUND = "\n".join([
    "SLF4J(W): No SLF4J providers were found.",
    HEADER,
    "\t".join(["_isthmus.connect.offsets", "24       ", "1   ", "8116 ", "0  ", "16230", "1795641969045", "91 ", ""]),
    "\t".join(["crm.crm.customers       ", "0        ", "1   ", "8116 ", "0  ", "25699", "1795641969045", "91 ", ""]),
    "",
])
NONE = HEADER + "\n"


def test_each_row_is_one_hanging_transaction_with_where_it_starts() -> None:
    assert parse_find_hanging(FOUND) == [
        HangingTransaction(topic="_isthmus.connect.offsets", partition=24, producer_id=1, producer_epoch=8116,
                           start_offset=16230, minutes=91),
        HangingTransaction(topic="crm.crm.customers", partition=0, producer_id=1, producer_epoch=8116,
                           start_offset=25699, minutes=91),
    ]
    assert parse_find_hanging(FOUND)[1].describe() == (
        "crm.crm.customers[0] from offset 25699: producer 1 epoch 8116, open 91 min")


def test_a_header_alone_means_none() -> None:
    assert parse_find_hanging(NONE) == []


def test_output_without_the_table_is_an_error_that_quotes_it() -> None:
    with pytest.raises(HangingTransactionToolError, match="printed no table: Error: broker 1 is not known"):
        parse_find_hanging("Error: broker 1 is not known\n")
    with pytest.raises(HangingTransactionToolError, match="unexpected row"):
        parse_find_hanging(NONE + "crm.crm.customers 0 1\n")


def test_the_age_must_exceed_any_transaction_timeout() -> None:
    tool = TransactionsTool(kafka="127.0.0.1:1", kafka_jars=Path("/nonexistent"))
    with pytest.raises(ValueError, match="1 minute or more"):
        find_hanging(tool, older_than_min=0)


def test_a_stack_without_the_tools_jar_says_how_to_get_it(tmp_path: Path) -> None:
    (tmp_path / "kafka-tools-api-4.3.0.jar").write_bytes(b"")
    tool = TransactionsTool(kafka="127.0.0.1:1", kafka_jars=tmp_path)
    with pytest.raises(HangingTransactionToolError, match=r"no kafka-tools jar .* run `isthmus up`"):
        tool.run("find-hanging")
