"""Old against new: the tallies of two rule sets side by side, per day and in total. Pure.

The report is one JSON-able dict (`--json` prints it; the table and the HTML page are drawn
from it), so every figure a person sees is the figure a machine gets.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from workers.backtest.tally import SALES_READY_LEADS, ContactOutcome, Key, Tally
from workers.pipeline.formulas import size

METRICS = (  # (metric, what it counts), in the order shown
    (SALES_READY_LEADS, "leads that became sales-ready"),
    ("decisions", "routing decisions, by kind (released: from the queue)"),
    ("assignments_by_line", "assignments per product line"),
    ("assignments_by_rep", "assignments per rep"),
    ("sla_reassignments", "SLA reassignments"),
    ("trigger_firings", "trigger firings, per trigger"),
    ("stage_moves", "stage moves, per rule"),
    ("notifications", "rep notifications, per kind"),
    ("owner_changes", "opportunity owner changes"),
    ("scores", "lead scores published"),
    ("dead_letters", "dead letters"),
)


@dataclass(frozen=True)
class Target:
    """Source 004's sizing: revenue per month → deals → leads → leads per rep."""

    revenue: float
    avg_deal_size: float
    close_rate: float
    reps: int | None = None


def compare(
    old: Tally, new: Tally, *, top: int = 10, target: Target | None = None, days: float = 1.0
) -> dict[str, Any]:
    """`days`: the window's length, for the per-month figures of the sizing."""
    old_totals, new_totals = old.totals(), new.totals()
    report: dict[str, Any] = {
        "totals": _rows(old_totals, new_totals),
        "days": [
            {
                "day": day,
                "rows": _rows(old.counts.get(day, Counter()), new.counts.get(day, Counter())),
                "queue_peak": {
                    "old": old.queue_peak.get(day, 0),
                    "new": new.queue_peak.get(day, 0),
                },
            }
            for day in sorted(set(old.counts) | set(new.counts))
        ],
        "queue_peak": _pair(
            max(old.queue_peak.values(), default=0), max(new.queue_peak.values(), default=0)
        ),
        "time_to_assign_seconds": {"old": _percentiles(old.waits), "new": _percentiles(new.waits)},
        "stars": {str(s): _pair(old.stars().get(s, 0), new.stars().get(s, 0)) for s in range(6)},
        "newly_sales_ready": _movers(old, new, top),
        "no_longer_sales_ready": _movers(new, old, top),
    }
    if target is not None:
        report["sizing"] = _sizing(target, old_totals, new_totals, days)
    return report


def _day(old: Tally, new: Tally, day: str) -> dict[str, Any]:
    empty: Counter[Key] = Counter()
    return {
        "day": day,
        "rows": _rows(old.counts.get(day, empty), new.counts.get(day, empty)),
        "queue_peak": _pair(old.queue_peak.get(day, 0), new.queue_peak.get(day, 0)),
    }


def _rows(old: Counter[Key], new: Counter[Key]) -> list[dict[str, Any]]:
    rows = []
    order = {metric: i for i, (metric, _) in enumerate(METRICS)}
    for metric, label in sorted(set(old) | set(new), key=lambda k: (order.get(k[0], 99), k[1])):
        rows.append(
            {"metric": metric, "label": label, **_pair(old[(metric, label)], new[(metric, label)])}
        )
    return rows


def _pair(old: float, new: float) -> dict[str, Any]:
    return {"old": old, "new": new, "change": new - old}


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "p50": None, "p90": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    return {"count": len(ordered), "p50": at(0.5), "p90": at(0.9)}


def _movers(without: Tally, within: Tally, top: int) -> dict[str, Any]:
    """Contacts signalled sales-ready under `within` but not under `without`, best first."""
    ids = [c for c, o in within.contacts.items() if o.signalled and not _signalled(without, c)]
    ids.sort(key=lambda c: (-within.contacts[c].total, c))
    return {
        "count": len(ids),
        "top": [_contact(c, within.contacts[c], without.contacts.get(c)) for c in ids[:top]],
    }


def _signalled(tally: Tally, contact: str) -> bool:
    found = tally.contacts.get(contact)
    return found is not None and found.signalled


def _contact(contact: str, here: ContactOutcome, there: ContactOutcome | None) -> dict[str, Any]:
    return {
        "contact_id": contact,
        "total": here.total,
        "stars": here.stars,
        "other_total": None if there is None else there.total,
        "breakdown": [{"rule_id": r, "points": p} for r, p in here.breakdown],
    }


def _sizing(
    target: Target,
    old_totals: Counter[Key],
    new_totals: Counter[Key],
    days: float,
) -> dict[str, Any]:
    needed = size(target.revenue, target.avg_deal_size, target.close_rate, target.reps)
    months = max(days, 1e-9) / 30.0
    out: dict[str, Any] = {
        "target_revenue_per_month": target.revenue,
        "deals_needed": needed.deals,
        "leads_needed_per_month": needed.leads,
    }
    for name, totals in (("old", old_totals), ("new", new_totals)):
        reps = target.reps or len({k[1] for k in totals if k[0] == "assignments_by_rep"}) or None
        per_month = totals[(SALES_READY_LEADS, "")] / months
        per_rep = None if reps is None else per_month / reps
        out[name] = {
            "reps": reps,
            "sales_ready_per_month": round(per_month, 1),
            "sales_ready_per_rep_per_month": None if per_rep is None else round(per_rep, 1),
            "leads_needed_per_rep_per_month": None
            if reps is None
            else math.ceil(needed.leads / reps),
            "enough": per_month >= needed.leads,
        }
    return out
