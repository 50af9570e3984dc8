"""The live terminal view of the demo (rich), laid out for the terminal it is given, and the
summary printed when it stops.

Three layouts: `full` (at least 140×46: six panels in two columns), `medium` (at least
100×36: the same panels, fewer rows each) and `compact` (anything smaller, down to 80×24: the
header, the key figures and the top leads in one column). Ids are never cut: their columns do
not wrap or shorten; a layout shows fewer rows or panels instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from workers.demo.feed import Feed
from workers.demo.samples import Samples, total

CAP_ID = "engagement_cap"  # the scoring core's cap line (workers.scoring.engagement.CAP_ID)
DECISIONS = ("assigned", "owner_notified", "queued", "released", "reassigned")


@dataclass(frozen=True)
class Layout:
    name: str
    columns: int  # 1 or 2
    firings: int  # rows of each list
    leads: int
    moves: int
    rows: int  # reps, notification kinds, dead-letter reasons

    def column(self, width: int) -> int:
        """The width of one column of the grid on a terminal `width` wide."""
        return width if self.columns == 1 else (width - 2) // 2  # the grid pads by 1 each


FULL = Layout("full", 2, firings=6, leads=6, moves=2, rows=8)
MEDIUM = Layout("medium", 2, firings=3, leads=4, moves=0, rows=5)
COMPACT = Layout("compact", 1, firings=0, leads=3, moves=0, rows=0)


def layout_for(width: int, height: int) -> Layout:
    if width >= 140 and height >= 46:
        return FULL
    if width >= 100 and height >= 36:
        return MEDIUM
    return COMPACT


@dataclass
class Col:
    """A column and its cells. `drop`: the column may be left out when the table would not fit
    (lower first); every cell is shown whole or not at all. `flex`: takes the width left."""

    header: str
    cells: list[str]
    right: bool = False
    drop: int = 0  # 0: always shown
    flex: bool = False
    keep: bool = True  # never shortened (an id, a figure); False: text its producer fitted

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(c) for c in self.cells)])


GAP = 3  # between two columns: padding, separator, padding


def _fitted(title: str, columns: list[Col], width: int) -> Table:
    """A table no wider than `width`: optional columns go, lowest `drop` first, until the
    others fit whole; a flexible column gets what is left."""
    shown = list(columns)
    for victim in sorted((c for c in columns if c.drop), key=lambda c: c.drop):
        fixed = sum(c.width for c in shown if not c.flex) + GAP * (len(shown) - 1)
        flex = [c for c in shown if c.flex]
        if fixed + sum(c.width if c.keep else min(c.width, 10) for c in flex) <= width:
            break
        shown.remove(victim)
    table = Table(title=title or None, title_justify="left", pad_edge=False,
                  box=box.SIMPLE_HEAD, show_edge=False)  # fmt: skip
    fixed = sum(c.width for c in shown if not c.flex) + GAP * (len(shown) - 1)
    flexible = [c for c in shown if c.flex]
    share = (width - fixed) // max(1, len(flexible))  # the room left, split between them
    for c in shown:
        table.add_column(
            c.header,
            justify="right" if c.right else "left",
            no_wrap=True,
            width=max(c.width if c.keep else 10, share) if c.flex else c.width,
            overflow="crop" if c.keep else "ellipsis",
        )
    for row in zip(*(c.cells for c in shown), strict=True):
        table.add_row(*row)
    return table


def _day(iso: str | None) -> str:
    if not iso:
        return ""
    return dt.datetime.fromisoformat(iso).strftime("%b %d %H:%M")


def _money(value: Any) -> str:
    return "-" if value is None else f"€{float(value):,.0f}"


def why(lead: dict[str, Any], room: int) -> str:
    """The largest positive contributions, as many as fit in `room` characters (at least one),
    then the engagement cap as a cap (its line in the breakdown is negative: what the cap
    took off). Rule ids are whole or left out, never cut."""
    parts = lead.get("breakdown") or []
    positive = sorted((b for b in parts if b.get("points", 0) > 0 and b.get("rule_id") != CAP_ID),
                      key=lambda b: -b["points"])  # fmt: skip
    cap = ""
    if any(b.get("rule_id") == CAP_ID for b in parts):
        cap = f"cap {float(lead.get('engagement', 0)):g}"
    shown: list[str] = []
    for b in positive:
        item = f"{b['rule_id']} +{b['points']:g}"
        if shown and len(", ".join([*shown, item])) > room:
            break
        shown.append(item)
    if cap and len(", ".join([*shown, cap])) <= room:
        shown.append(cap)
    return ", ".join(shown)


def header(feed: Feed, *, sent: int, sim_now: dt.datetime, elapsed: float, metrics_url: str,
           compact: bool) -> Text:  # fmt: skip
    m = feed.parsed
    rate, lag = feed.rate(), feed.lag
    shown = "…" if rate is None else f"{rate:,.0f}/s"
    lag_text = "-" if lag is None else f"{lag:,.0f}"
    line1 = f"simulated {sim_now:%a %d %b %Y %H:%M} · {elapsed:.0f} s · sent {sent:,} events"
    line2 = (f"processed {shown} (last 10 s) · input lag {lag_text} · duplicates ignored "
             f"{total(m, 'dealstream_duplicate_events_total'):.0f}")  # fmt: skip
    text = Text(f"{line1}\n{line2}\nPrometheus: {metrics_url}")
    if compact:
        text = Text(f"{line1}\n{line2}\n{metrics_url}")
    return text


def _firings(feed: Feed, rows: int, width: int) -> Table:
    firings = list(feed.firings)[:rows]
    columns = [
        Col("trigger", [str(f.get("trigger_id")) for f in firings], flex=True),
        Col("opportunity", [str(f.get("opportunity_id")) for f in firings]),
        Col("stage", [str(f.get("stage_id")) for f in firings], drop=3),
        Col("period", [str(f.get("period")) for f in firings], right=True, drop=2),
        Col("due", [_day(f.get("due_at")) for f in firings], drop=1),
    ]
    return _fitted("latest trigger firings", columns, width)


def _leads(feed: Feed, rows: int, width: int) -> Table:
    """Contact, stars, score and why; the stars go first when the reasons need the room."""
    leads = feed.leads[:rows]
    contacts = Col("contact", [str(lead.get("contact_id")) for lead in leads])
    stars = [int(lead.get("stars", 0)) for lead in leads]
    rated = Col("stars", ["★" * n + "☆" * (5 - n) for n in stars])
    score = Col("score", [f"{lead.get('total', 0):.0f}" for lead in leads], right=True)
    for columns in ([contacts, rated, score], [contacts, score]):
        room = width - sum(c.width for c in columns) - GAP * len(columns)
        reasons = [why(lead, room) for lead in leads]
        if all(len(r) <= room for r in reasons):
            break
    columns.append(Col("why", reasons, flex=True, keep=False))
    return _fitted("top sales-ready leads", columns, width)


def queue_line(feed: Feed, m: Samples) -> str:
    depth = m.get("dealstream_lead_queue_depth", {})
    queued = sum(depth.values())
    kinds = ", ".join(
        f"{k.replace('_', ' ')} {feed.decisions[k]}" for k in DECISIONS if feed.decisions[k]
    )
    return f"queued now {queued:.0f} · {kinds or 'no decision yet'}"


def _reps(feed: Feed, m: Samples, rows: int, width: int) -> Table:
    busiest = sorted(feed.assigned_to.most_common(rows))
    columns = [
        Col("rep", [r for r, _ in busiest], flex=True),
        Col("leads", [str(n) for _, n in busiest], right=True),
    ]
    table = _fitted("assignments per rep", columns, width)
    more = len(feed.assigned_to) - len(busiest)
    table.caption = queue_line(feed, m) + (f" · {more} more reps" if more > 0 else "")
    return table


def _pipeline(feed: Feed, width: int) -> Table:
    """Open deals per stage; a won stage (retention) shows the deals won there instead."""
    p = (feed.pipelines.get("pipelines") or [{}])[0]
    rows = [_stage_row(s) for s in p.get("stages", [])]
    columns = [
        Col("stage", [r[0] for r in rows], flex=True),
        Col("deals", [r[1] for r in rows], right=True),
        Col("value", [r[2] for r in rows], right=True, drop=2),
        Col("forecast", [r[3] for r in rows], right=True, drop=1),
    ]
    table = _fitted("pipeline", columns, width)
    if rows:
        table.caption = pipeline_line(p)
    return table


def _stage_row(stage: dict[str, Any]) -> tuple[str, str, str, str]:
    if stage.get("closes_as") == "won":
        return f"{stage['stage']} (won)", str(stage["won_deals"]), _money(stage["won_value"]), ""
    return (stage["stage"], str(stage["open_deals"]), _money(stage["open_value"]),
            _money(stage["weighted_forecast"]))  # fmt: skip


def pipeline_line(p: dict[str, Any]) -> str:
    rate = p.get("win_rate")
    return (f"won {p['won']} lost {p['lost']} · win rate {'-' if rate is None else f'{rate:.0%}'}"
            f" · forecast {_money(p['weighted_forecast'])} · stuck {p['stuck_deals']}")  # fmt: skip


def _counts(
    title: str, rows: list[tuple[str, int | str]], width: int, header: str = "what"
) -> Table:
    columns = [Col(header, [what for what, _ in rows], flex=True),
               Col("count", [str(n) for _, n in rows], right=True)]  # fmt: skip
    return _fitted(title, columns, width)


def _actions(feed: Feed, moves: int, rows: int, width: int) -> Table:
    lines: list[tuple[str, int | str]] = [
        ("lead scores published", feed.counts["crm.lead-scores"]),
        ("owner changes", feed.counts["crm.owner-changes"]),
        ("stage moves asked", feed.counts["crm.stage-moves"]),
    ]
    lines += [(f"notification {kind}", n) for kind, n in feed.notifications.most_common(rows)]
    lines += [(f"{m['opportunity_id']}: {m['from_stage_id']} → {m['to_stage_id']}", "")
              for m in list(feed.moves)[:moves]]  # fmt: skip
    return _counts("automation and notifications", lines, width)


def _letters(feed: Feed, rows: int, width: int) -> Table:
    lines: list[tuple[str, int | str]] = list(feed.dead_letters.most_common(rows))
    return _counts("dead letters by reason", lines, width, "reason")


def _figures(feed: Feed, m: Samples, width: int) -> Table:
    """The compact layout's one table: a figure per capability, in two pairs of columns."""
    p = (feed.pipelines.get("pipelines") or [{}])[0]
    cells = [
        ("scores published", feed.counts["crm.lead-scores"]),
        ("trigger firings", feed.counts["crm.trigger-firings"]),
        ("assigned", feed.decisions["assigned"]),
        ("reassigned", feed.decisions["reassigned"]),
        ("owner notified", feed.decisions["owner_notified"]),
        ("queued now", int(total(m, "dealstream_lead_queue_depth"))),
        ("owner changes", feed.counts["crm.owner-changes"]),
        ("stage moves", feed.counts["crm.stage-moves"]),
        ("notifications", feed.counts["crm.rep-notifications"]),
        ("dead letters", feed.counts["crm.dead-letters"]),
        ("open deals", p.get("open_deals", 0)),
        ("won / lost", f"{p.get('won', 0)} / {p.get('lost', 0)}"),
    ]
    left, right = cells[0::2], cells[1::2]
    columns = [
        Col("what", [a for a, _ in left], flex=True),
        Col("count", [str(x) for _, x in left], right=True),
        Col("what", [b for b, _ in right], flex=True),
        Col("count", [str(y) for _, y in right], right=True),
    ]
    return _fitted("", columns, width)


def render(
    feed: Feed, *, sent: int, sim_now: dt.datetime, elapsed: float, metrics_url: str,
    width: int, height: int,
) -> RenderableType:  # fmt: skip
    layout = layout_for(width, height)
    m = feed.parsed
    head = Panel(
        header(
            feed,
            sent=sent,
            sim_now=sim_now,
            elapsed=elapsed,
            metrics_url=metrics_url,
            compact=layout is COMPACT,
        ),
        title="dealstream demo — Ctrl-C stops everything",
        box=box.ROUNDED,
    )
    w = layout.column(width)
    if layout is COMPACT:
        return Group(head, _figures(feed, m, w), _leads(feed, layout.leads, w))
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(_firings(feed, layout.firings, w), _leads(feed, layout.leads, w))
    grid.add_row(_reps(feed, m, layout.rows, w), _pipeline(feed, w))
    grid.add_row(_actions(feed, layout.moves, layout.rows, w), _letters(feed, layout.rows, w))
    return Group(head, grid)


def render_feed(feed: Feed, width: int, height: int) -> RenderableType:
    """The view of `feed` with the header it last had (`Feed.header`), at `width`×`height`."""
    return render(feed, **_header_fields(feed), width=width, height=height)


def _header_fields(feed: Feed) -> dict[str, Any]:
    """The header's figures as `Feed.header` last had them (sent, sim_now, elapsed, url)."""
    h = feed.header
    at = h.get("sim_now")
    return {
        "sent": int(h.get("sent", 0)),
        "sim_now": dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC),
        "elapsed": float(h.get("elapsed", 0.0)),
        "metrics_url": str(h.get("metrics_url", "")),
    }


def status_line(feed: Feed) -> str:
    """The header in one line, for an output that is not a terminal (piped, redirected): the
    same figures as the live view's, without redrawing."""
    text = header(feed, **_header_fields(feed), compact=True)
    return " · ".join(text.plain.splitlines()[:2])  # the URL (third line) is printed once


def summary(feed: Feed) -> str:
    """One line per capability, for the end of a run (and the demo's test)."""
    p = (feed.pipelines.get("pipelines") or [{}])[0]
    decisions = [
        f"assignments {kind.replace('_', ' ')}: {feed.decisions[kind]}" for kind in DECISIONS
    ]
    return "\n".join(
        [
            f"trigger firings: {feed.counts['crm.trigger-firings']}",
            f"score changes: {feed.counts['crm.lead-scores']}",
            f"assignments: {feed.counts['crm.lead-assignments']}",
            *decisions,
            f"owner changes: {feed.counts['crm.owner-changes']}",
            f"stage moves: {feed.counts['crm.stage-moves']}",
            f"rep notifications: {feed.counts['crm.rep-notifications']}",
            f"dead letters: {feed.counts['crm.dead-letters']}",
            f"pipeline open deals: {p.get('open_deals', 0)}",
            f"pipeline open value: {p.get('open_value', 0)}",
        ]
    )
