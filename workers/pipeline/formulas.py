"""The formulas of source 004, on plain numbers."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sizing:
    deals: int
    leads: int
    leads_per_rep: int | None  # None when the number of reps was not given


def size(
    target_revenue: float, avg_deal_size: float, close_rate: float, reps: int | None = None
) -> Sizing:
    """Deals = target / average deal size; leads = deals / close rate; per rep = leads / reps.

    Source 004: 100,000 at 500 a deal → 200 deals; at 0.8 → 250 leads; 10 reps → 25 each.
    Each step rounds up: a fraction of a deal or a lead still has to be found.
    """
    if target_revenue <= 0 or avg_deal_size <= 0 or not 0 < close_rate <= 1:
        raise ValueError("need a target > 0, an average deal size > 0, a close rate in (0, 1]")
    if reps is not None and reps < 1:
        raise ValueError("need reps ≥ 1")
    deals = math.ceil(round(target_revenue / avg_deal_size, 9))
    leads = math.ceil(round(deals / close_rate, 9))
    per_rep = None if reps is None else math.ceil(round(leads / reps, 9))
    return Sizing(deals, leads, per_rep)


def win_rate(won: int, lost: int) -> float | None:
    return won / (won + lost) if won + lost else None


def velocity_per_day(
    open_deals: int, rate: float | None, avg_deal_size: float | None, cycle_days: float | None
) -> float | None:
    """Pipeline velocity = open deals × win rate × average deal size / average cycle days."""
    if rate is None or avg_deal_size is None or not cycle_days:
        return None
    return open_deals * rate * avg_deal_size / cycle_days


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def p90(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]


def close_rate(text: str) -> float:
    """`0.25` or `25%`: a close rate in (0, 1]; ValueError says what to write instead."""
    percent = text.strip().endswith("%")
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise ValueError(
            f"--close-rate {text}: give a fraction like 0.25 or a percentage like 25%"
        ) from None
    rate = value / 100 if percent else value
    if not 0 < rate <= 1:
        hint = (
            f" (for {value:g} percent write {value:g}%)" if not percent and 1 < value <= 100 else ""
        )
        raise ValueError(f"--close-rate {text}: must be in (0, 1] or (0%, 100%]{hint}")
    return rate
