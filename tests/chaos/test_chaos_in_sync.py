"""The 3-broker backend's in-sync check reads kafka-python's describe_topics() as it is shaped."""

from __future__ import annotations

import pytest

from chaos.backends import out_of_sync

pytestmark = pytest.mark.unit


def partition(index: int, replicas: list[int], isr: list[int]) -> dict[str, object]:
    # The shape KafkaAdminClient.describe_topics() returns (kafka-python 2.x), extra keys included.
    return {"error_code": 0, "partition_index": index, "leader_id": isr[0], "leader_epoch": 3,
            "replica_nodes": replicas, "isr_nodes": isr, "offline_replicas": []}


def test_partitions_with_a_replica_out_of_sync_are_named_and_in_sync_ones_are_not() -> None:
    described = [
        {"error_code": 0, "name": "isthmus.commands.erp", "is_internal": False,
         "partitions": [partition(0, [0, 1, 2], [0, 1, 2]), partition(1, [1, 2, 0], [1, 2])]},
        {"error_code": 0, "name": "__transaction_state", "is_internal": True,
         "partitions": [partition(0, [2, 0, 1], [2])]},
    ]
    assert out_of_sync(described) == ["isthmus.commands.erp[1]", "__transaction_state[0]"]
    healed = [{**described[0], "partitions": [partition(0, [0, 1, 2], [0, 1, 2]), partition(1, [1, 2, 0], [1, 2, 0])]}]
    assert out_of_sync(healed) == []
