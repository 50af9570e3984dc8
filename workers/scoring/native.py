"""The engagement ledger's native core (workers/native, Rust) made from the same compiled rules
as the reference `EngagementScorer`, which it equals bit for bit
(tests/unit/test_native_ledger.py)."""

from __future__ import annotations

from dealstream_core import EngagementCore, Ledger

from workers.scoring.engagement import DecaySums, EngagementScorer, Entry

__all__ = ["EngagementCore", "Ledger", "ledger_of", "native_core"]


def native_core(scorer: EngagementScorer) -> EngagementCore:
    rules = [
        (r.id, r.kind, r.cents, r.source, r.form, r.product_line, r.cap_count, r.cap_window)
        for r in scorer.rules
    ]
    return EngagementCore(rules, scorer.decay_kind, scorer.decay_period, scorer.max_cents)


def ledger_of(entries: list[Entry], sums: DecaySums | None) -> Ledger:
    """A native ledger from the reference's (the tables' form)."""
    if sums is None:
        return Ledger(entries)
    return Ledger(entries, [sums.period, sums.anchor, sums.size, sums.sums])
