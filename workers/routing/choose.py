"""Choosing a rep for a lead: eligibility, then the product line's strategy.

Every decision says why, with a machine-readable code and the candidates considered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from workers.routing.roster import Rep

NO_REP = "no_rep_for_product_line"
AT_CAPACITY = "all_at_capacity"
NONE_AVAILABLE = "none_available"
ALL_PASSED = "all_reps_passed"


@dataclass(frozen=True)
class Choice:
    rep_id: str | None
    code: str  # "assigned" when a rep was chosen, else the queue reason
    text: str
    candidates: tuple[str, ...]


def at_capacity(rep: Rep) -> bool:
    return (
        (rep.per_day is not None and rep.assigned_day >= rep.per_day)
        or (rep.per_month is not None and rep.assigned_month >= rep.per_month)
        or (rep.open_limit is not None and rep.open_leads >= rep.open_limit)
    )


def available(rep: Rep, now: float, ignore_hours: bool) -> bool:
    return (
        rep.active
        and not rep.deleted
        and not rep.out_of_office_at(now)
        and (ignore_hours or rep.in_hours(now))
    )


def choose(
    reps: Iterable[Rep],
    product_line: str,
    now: float,
    *,
    strategy: str,
    ignore_hours: bool = False,
    exclude: frozenset[str] = frozenset(),
) -> Choice:
    sellers = [
        r.counters_at(now)
        for r in reps
        if product_line in r.product_lines and not r.deleted and r.active
    ]
    if not sellers:
        return Choice(None, NO_REP, f"no active rep sells {product_line}", ())
    sellers = [r for r in sellers if r.rep_id not in exclude]
    if not sellers:
        return Choice(
            None, ALL_PASSED, f"every active rep selling {product_line} has passed over it", ()
        )
    present = [r for r in sellers if available(r, now, ignore_hours)]
    eligible = [r for r in present if not at_capacity(r)]
    candidates = tuple(sorted(r.rep_id for r in eligible))
    if not eligible:
        if present:
            return Choice(None, AT_CAPACITY, f"every rep selling {product_line} is at capacity", ())
        return Choice(None, NONE_AVAILABLE, f"no rep selling {product_line} is working now", ())
    chosen = pick(eligible, strategy)
    text = f"{strategy} among {len(eligible)} eligible rep(s)"
    return Choice(chosen.rep_id, "assigned", text, candidates)


def _round_robin_key(rep: Rep) -> tuple[int, str]:
    # the rep who has waited longest since their last assignment; a rep back from absence
    # is simply "waited longest" once, not owed a catch-up burst
    return (rep.last_seq, rep.rep_id)


def pick(eligible: list[Rep], strategy: str) -> Rep:
    if strategy == "load_balanced":
        return min(eligible, key=lambda r: (r.open_leads, *_round_robin_key(r)))
    if strategy == "weighted":
        # the rep furthest below their share: smallest (assigned + 1) / weight
        return min(
            eligible, key=lambda r: ((r.assigned_total + 1) / r.weight, *_round_robin_key(r))
        )
    return min(eligible, key=_round_robin_key)
