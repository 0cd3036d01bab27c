"""The dashboard's Prometheus text: connector and task states, consumer lag and throughput, dead letters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.capture.client import FAILED, PAUSED, RUNNING, STOPPED

STATES = (RUNNING, FAILED, PAUSED, STOPPED, "UNASSIGNED", "RESTARTING")


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_text(snapshot: Mapping[str, Any]) -> str:
    """Prometheus exposition of a dashboard snapshot (see :class:`streams.dashboard.app.Sampler`)."""
    lines = ["# HELP isthmus_connector_state 1 for the state a connector is in (Kafka Connect REST API).",
             "# TYPE isthmus_connector_state gauge"]
    for connector in snapshot["connectors"]:
        lines += [f'isthmus_connector_state{{connector="{_label(connector["name"])}",state="{state}"}} '
                  f'{int(connector["state"] == state)}' for state in STATES]
    lines += ["# HELP isthmus_connector_task_state 1 for the state a connector task is in.",
              "# TYPE isthmus_connector_task_state gauge"]
    for connector in snapshot["connectors"]:
        for task in connector["tasks"]:
            lines += [f'isthmus_connector_task_state{{connector="{_label(connector["name"])}",task="{task["id"]}",'
                      f'state="{state}"}} {int(task["state"] == state)}' for state in STATES]
    lines += ["# HELP isthmus_consumer_lag Records a consumer group has yet to consume, per topic.",
              "# TYPE isthmus_consumer_lag gauge"]
    lines += [f'isthmus_consumer_lag{{group="{_label(row["group"])}",topic="{_label(row["topic"])}"}} {row["lag"]}'
              for row in snapshot["lag"]]
    lines += ["# HELP isthmus_consumer_committed_total Offsets a consumer group has committed (all partitions).",
              "# TYPE isthmus_consumer_committed_total counter"]
    lines += [f'isthmus_consumer_committed_total{{group="{_label(row["group"])}"}} {row["consumed"]}'
              for row in snapshot["groups"]]
    lines += ["# HELP isthmus_topic_end_offset_total End offsets of a topic summed over its partitions.",
              "# TYPE isthmus_topic_end_offset_total counter"]
    lines += [f'isthmus_topic_end_offset_total{{topic="{_label(row["topic"])}"}} {row["records"]}'
              for row in snapshot["topics"]]
    lines += ["# HELP isthmus_dead_letters Records in the dead-letter topic.",
              "# TYPE isthmus_dead_letters gauge",
              f'isthmus_dead_letters{{topic="{_label(snapshot["dlq_topic"])}"}} {snapshot["dead_letter_count"]}',
              "# HELP isthmus_dead_letters_by_stage Records in the dead-letter topic by the stage that failed.",
              "# TYPE isthmus_dead_letters_by_stage gauge"]
    lines += [f'isthmus_dead_letters_by_stage{{topic="{_label(snapshot["dlq_topic"])}",stage="{_label(stage)}"}} {n}'
              for stage, n in snapshot.get("dead_letters_by_stage", {}).items()]
    return "\n".join(lines) + "\n"
