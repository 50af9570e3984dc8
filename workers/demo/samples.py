"""The worker's Prometheus text, parsed into samples the demo reads."""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse_metrics(text: str) -> Samples:
    out: Samples = defaultdict(dict)
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    except ValueError:
        pass
    return out


def total(m: Samples, name: str) -> float:
    return sum(m.get(name, {}).values())
