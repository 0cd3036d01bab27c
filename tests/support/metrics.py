"""Reading Prometheus exposition in tests with prometheus_client's own parser (never by matching lines)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (sample name, sorted labels) -> value."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def types(text: str) -> dict[str, str]:
    """Each metric family's name (as prometheus_client names it: a counter without ``_total``) -> its type."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def value(samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    """One sample's value, or None when the exposition has no such sample."""
    return samples.get((name, tuple(sorted(labels.items()))))
