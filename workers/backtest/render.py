"""The backtest report for people: a table on the terminal, or one self-contained HTML page
with per-day charts (inline SVG, no script, no outside file) to share with the sales team."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from workers.backtest.report import METRICS

TITLES = dict(METRICS)
DAILY = (  # per-day columns: (metric, header)
    ("sales_ready", "sales-ready"),
    ("assignments_by_line", "assigned"),
    ("sla_reassignments", "SLA reassign"),
    ("trigger_firings", "firings"),
    ("stage_moves", "moves"),
    ("notifications", "notices"),
)


def text(doc: dict[str, Any]) -> str:
    report, about = doc["report"], doc["about"]
    lines = [_heading(about), ""]
    lines.append(f"{'':<52}{'old':>10}{'new':>10}{'change':>10}")
    metric = ""
    for row in report["totals"]:
        if row["metric"] != metric:
            metric = row["metric"]
            if row["label"]:
                lines.append(TITLES.get(metric, metric))
        name = f"  {row['label']}" if row["label"] else TITLES.get(metric, metric)
        lines.append(f"{name[:51]:<52}{_n(row['old'])}{_n(row['new'])}{_change(row['change'])}")
    peak = report["queue_peak"]
    lines.append(
        f"{'deepest routing queue':<52}{_n(peak['old'])}{_n(peak['new'])}{_change(peak['change'])}"
    )
    wait = report["time_to_assign_seconds"]
    for q in ("p50", "p90"):
        lines.append(
            f"{'time to assign ' + q + ' (minutes)':<52}"
            f"{_minutes(wait['old'][q])}{_minutes(wait['new'][q])}"
        )
    lines += [
        "",
        "stars at the end (contacts)   "
        + "  ".join(f"{s}★ {v['old']}→{v['new']}" for s, v in report["stars"].items()),
    ]
    lines += ["", "per day" + "".join(f"{h:>16}" for _, h in DAILY)]
    for day in report["days"]:
        sums = _day_sums(day["rows"])
        lines.append(day["day"] + "".join(f"{f'{sums[m][0]}→{sums[m][1]}':>16}" for m, _ in DAILY))
    for key, title in (
        ("newly_sales_ready", "newly sales-ready"),
        ("no_longer_sales_ready", "no longer sales-ready"),
    ):
        movers = report[key]
        lines += [
            "",
            f"{title}: {movers['count']} contact(s)" + (", best first:" if movers["top"] else ""),
        ]
        lines += [f"  {_mover(m)}" for m in movers["top"]]
    if "sizing" in report:
        lines += ["", *_sizing_lines(report["sizing"])]
    return "\n".join(lines)


def _heading(about: dict[str, Any]) -> str:
    state = (
        "cold (empty state at --from)"
        if about["cold"]
        else (f"warm (state from {about['warm_records']:,} earlier records)")
    )
    return (
        f"backtest of {about['candidate']} against {about['against']}\n"
        f"window {about['from']} → {about['to']} ({about['days']:.2f} days); {state}\n"
        f"replayed {about['replayed']:,} of {about['records']:,} records and "
        f"{about['ticks']:,} ticks of {about['tick_seconds']:g} s in {about['seconds']:.1f} s "
        f"({about['events_per_second']:,.0f} events/s)"
    )


def _n(value: float) -> str:
    return f"{value:>10,}" if isinstance(value, int) else f"{value:>10,.1f}"


def _change(value: float) -> str:
    return f"{value:>+10,}" if value else f"{'':>10}"


def _minutes(seconds: float | None) -> str:
    return f"{'-':>10}" if seconds is None else f"{seconds / 60:>10,.1f}"


def _day_sums(rows: Iterable[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    sums = {m: (0, 0) for m, _ in DAILY}
    for row in rows:
        if row["metric"] in sums:
            old, new = sums[row["metric"]]
            sums[row["metric"]] = (old + row["old"], new + row["new"])
    return sums


def _mover(m: dict[str, Any]) -> str:
    other = "-" if m["other_total"] is None else f"{m['other_total']:.1f}"
    parts = ", ".join(f"{b['rule_id']} {b['points']:+g}" for b in m["breakdown"])
    return f"{m['contact_id']}: {m['total']:.1f} ({m['stars']}★; other rules {other}): {parts}"


def _sizing_lines(s: dict[str, Any]) -> list[str]:
    lines = [
        f"target {s['target_revenue_per_month']:,.0f} a month needs {s['deals_needed']:,}"
        f" deals from {s['leads_needed_per_month']:,} sales-ready leads a month"
    ]
    for name in ("old", "new"):
        x = s[name]
        per_rep = x["sales_ready_per_rep_per_month"]
        lines.append(
            f"  {name}: {x['sales_ready_per_month']:,.1f} a month"
            + (
                ""
                if per_rep is None
                else f", {per_rep:,.1f} per rep ({x['reps']} reps; "
                f"{x['leads_needed_per_rep_per_month']:,} needed)"
            )
            + (" - enough" if x["enough"] else " - short of the target")
        )
    return lines


# --- HTML -----------------------------------------------------------------------------------
def page(doc: dict[str, Any]) -> str:
    report = doc["report"]
    charts = [_chart(report["days"], metric, title) for metric, title in DAILY]
    table = html.escape(text(doc))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>dealstream backtest</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "pre{background:#f6f6f6;padding:1em;overflow:auto}.c{display:inline-block;margin:1em}"
        ".o{fill:#9aa5b1}.n{fill:#2b7bb9}</style></head><body>"
        f"<h1>Rules backtest</h1><p>{html.escape(_heading(doc['about']))}</p>"
        "<p><svg width='12' height='12'><rect class='o' width='12' height='12'/></svg> old "
        "<svg width='12' height='12'><rect class='n' width='12' height='12'/></svg> new</p>"
        + "".join(charts)
        + f"<h2>Figures</h2><pre>{table}</pre></body></html>\n"
    )


def _chart(days: list[dict[str, Any]], metric: str, title: str) -> str:
    sums = [_day_sums(d["rows"])[metric] for d in days]
    top = max([max(o, n) for o, n in sums] + [1])
    width, height, bar = max(240, 26 * len(days)), 160, 10
    bars = []
    for i, (old, new) in enumerate(sums):
        x = 30 + i * 26
        for j, (value, cls) in enumerate(((old, "o"), (new, "n"))):
            h = round(120 * value / top)
            label = html.escape(f"{days[i]['day']}: {'old' if cls == 'o' else 'new'} {value}")
            bars.append(
                f"<rect class='{cls}' x='{x + j * bar}' y='{130 - h}' width='{bar}' "
                f"height='{h}'><title>{label}</title></rect>"
            )
    return (
        f"<div class='c'><h3>{html.escape(title)} per day</h3>"
        f"<svg width='{width + 40}' height='{height}' role='img'>"
        f"<text x='0' y='12' font-size='10'>{top}</text>"
        f"<line x1='28' y1='130' x2='{width + 30}' y2='130' stroke='#888'/>"
        + "".join(bars)
        + "</svg></div>"
    )
