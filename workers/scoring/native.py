"""The native core (workers/native, Rust) made from the same compiled rules as its Python
reference: the engagement ledger's from `EngagementScorer` (tests/unit/test_native_ledger.py),
the re-score's from `StarRater` and the scorer's settings (tests/unit/test_native_rescore.py).
Both equal their reference bit for bit."""

from __future__ import annotations

from dealstream_core import EngagementCore, Ledger, ScoreCore

from workers.scoring.engagement import EngagementScorer
from workers.scoring.stars import StarRater

__all__ = ["EngagementCore", "Ledger", "ScoreCore", "native_core", "score_core"]


def native_core(scorer: EngagementScorer) -> EngagementCore:
    rules = [
        (r.id, r.kind, r.cents, r.source, r.form, r.product_line, r.cap_count, r.cap_window)
        for r in scorer.rules
    ]
    return EngagementCore(rules, scorer.decay_kind, scorer.decay_period, scorer.max_cents)


def score_core(
    engagement: EngagementCore,
    rater: StarRater,
    threshold: int,
    hysteresis: int,
    resolution: int,
    interval: float,
) -> ScoreCore:
    return ScoreCore(
        engagement,
        rater.bands,
        rater.ideal_cents,
        rater.grades,
        threshold,
        hysteresis,
        resolution,
        interval,
    )
