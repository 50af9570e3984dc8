"""The live terminal view of the demo (rich), and the summary printed when it stops."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from workers.demo.feed import Feed

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


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, expand=True, title_justify="left", pad_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i and column.startswith("#") else "left")
    return table


def _day(iso: str | None) -> str:
    if not iso:
        return ""
    return dt.datetime.fromisoformat(iso).strftime("%b %d %H:%M")


def _money(value: Any) -> str:
    return "-" if value is None else f"€{float(value):,.0f}"


def render(
    feed: Feed, *, sent: int, events_per_second: float, sim_now: dt.datetime,
    elapsed: float, metrics_url: str,
) -> Group:  # fmt: skip
    m = parse_metrics(feed.metrics)
    head = (
        f"simulated time [bold]{sim_now:%a %d %b %Y %H:%M}[/] · {elapsed:.0f} s · "
        f"sent {sent:,} events · processed [bold]{events_per_second:,.0f}/s[/] · "
        f"duplicates ignored {total(m, 'dealstream_duplicate_events_total'):.0f} · "
        f"Prometheus: {metrics_url}"
    )
    firings = _table("latest trigger firings", "trigger", "opportunity", "stage", "#period", "due")
    for f in feed.firings:
        firings.add_row(f.get("trigger_id"), f.get("opportunity_id"), f.get("stage_id"),
                        str(f.get("period")), _day(f.get("due_at")))  # fmt: skip
    leads = _table("top sales-ready leads", "contact", "stars", "#score", "why")
    for lead in feed.leads[:6]:
        why = sorted(lead.get("breakdown", []), key=lambda b: -abs(b.get("points", 0)))[:3]
        reasons = ", ".join(f"{b['rule_id']} {b['points']:+g}" for b in why)
        stars = int(lead.get("stars", 0))
        leads.add_row(lead.get("contact_id"), "★" * stars + "☆" * (5 - stars),
                      f"{lead.get('total', 0):.0f}", reasons)  # fmt: skip
    reps = _table("assignments per rep", "rep", "#leads")
    for rep, n in sorted(feed.assigned_to.items()):
        reps.add_row(rep, str(n))
    depth = m.get("dealstream_lead_queue_depth", {})
    queued = ", ".join(f"{dict(k)['product_line']} {v:.0f}" for k, v in sorted(depth.items()))
    reps.caption = f"queue depth: {queued or '0'} · " + ", ".join(
        f"{k} {v}" for k, v in sorted(feed.decisions.items())
    )
    pipeline = _table("pipeline", "stage", "#open", "#value", "#forecast")
    summary = ""
    for p in feed.pipelines.get("pipelines", [])[:1]:
        for s in p["stages"]:
            pipeline.add_row(s["stage"], str(s["open_deals"]), _money(s["open_value"]),
                             _money(s["weighted_forecast"]))  # fmt: skip
        rate = p.get("win_rate")
        summary = (
            f"forecast {_money(p['weighted_forecast'])} · won {p['won']} lost {p['lost']}"
            f" · win rate {'-' if rate is None else f'{rate:.0%}'}"
            f" · velocity {_money(p.get('velocity_per_day'))}/day · stuck {p['stuck_deals']}"
        )
    pipeline.caption = summary
    actions = _table("automation and notifications", "what", "#count")
    actions.add_row("lead scores published", str(feed.counts["crm.lead-scores"]))
    actions.add_row("owner changes", str(feed.counts["crm.owner-changes"]))
    actions.add_row("stage moves asked", str(feed.counts["crm.stage-moves"]))
    for kind, n in sorted(feed.notifications.items()):
        actions.add_row(f"notification {kind}", str(n))
    for move in list(feed.moves)[:2]:
        actions.add_row(f"  {move['opportunity_id']}: {move['from_stage_id']} → "
                        f"{move['to_stage_id']} ({move['rule_id']})", "")  # fmt: skip
    letters = _table("dead letters by reason", "reason", "#count")
    for code, n in feed.dead_letters.most_common():
        letters.add_row(code, str(n))
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(firings, leads)
    grid.add_row(reps, pipeline)
    grid.add_row(actions, letters)
    return Group(Panel(head, title="dealstream demo — Ctrl-C stops everything"), grid)


def summary(feed: Feed) -> str:
    """One line per capability, for the end of a run (and the demo's test)."""
    p = (feed.pipelines.get("pipelines") or [{}])[0]
    return "\n".join(
        [
            f"trigger firings: {feed.counts['crm.trigger-firings']}",
            f"score changes: {feed.counts['crm.lead-scores']}",
            f"assignments: {feed.counts['crm.lead-assignments']}",
            f"owner changes: {feed.counts['crm.owner-changes']}",
            f"stage moves: {feed.counts['crm.stage-moves']}",
            f"rep notifications: {feed.counts['crm.rep-notifications']}",
            f"dead letters: {feed.counts['crm.dead-letters']}",
            f"pipeline open deals: {p.get('open_deals', 0)}",
            f"pipeline open value: {p.get('open_value', 0)}",
        ]
    )
