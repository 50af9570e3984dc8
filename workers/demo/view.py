"""The live terminal view of the demo, built from a worker's /metrics."""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.panel import Panel
from rich.table import Table


def parse_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return out


def render(metrics_text: str, *, sent: int, rate: float, metrics_url: str, elapsed: float) -> Group:
    m = parse_metrics(metrics_text)
    events = Table(title="valid events by topic", expand=True)
    events.add_column("topic")
    events.add_column("events", justify="right")
    for labels, value in sorted(m.get("dealstream_events_valid_total", {}).items()):
        events.add_row(dict(labels)["topic"], f"{value:.0f}")
    letters = Table(title="dead letters by reason", expand=True)
    letters.add_column("topic")
    letters.add_column("reason")
    letters.add_column("count", justify="right")
    for labels, value in sorted(m.get("dealstream_dead_letters_total", {}).items()):
        d = dict(labels)
        letters.add_row(d["topic"], d["code"], f"{value:.0f}")
    dups = sum(m.get("dealstream_duplicate_events_total", {}).values())
    head = (
        f"sent {sent} events in {elapsed:.0f}s ({rate:.0f}/s) · duplicates ignored {dups:.0f} · "
        f"Prometheus: {metrics_url}"
    )
    return Group(Panel(head, title="dealstream demo"), events, letters)
