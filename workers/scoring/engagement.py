"""Engagement points: a ledger of scored interactions, caps per window, decay with time."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from workers.rules.model import EngagementRules
from workers.scoring.profile import cents
from workers.triggers.durations import parse_duration

FORM_SUBMITTED = "form_submitted"
CAP_ID = "engagement_cap"
MAX_LEDGER = 500


@dataclass(frozen=True, slots=True)
class Interaction:
    """What happened, as the engagement rules see it."""

    event_id: str
    kind: str
    at: float
    source: str | None = None
    form: str | None = None
    product_line: str | None = None


# A ledger entry: [rule id, hundredths of a point, epoch seconds, event id]
Entry = tuple[str, int, float, str]


@dataclass(frozen=True)
class CompiledEngagementRule:
    id: str
    kind: str
    cents: int
    source: str | None
    form: str | None
    product_line: str | None
    cap_count: int | None
    cap_window: float

    def matches(self, i: Interaction) -> bool:
        return (
            i.kind == self.kind
            and (self.source is None or self.source == i.source)
            and (self.form is None or self.form == i.form)
            and (self.product_line is None or self.product_line == i.product_line)
        )


class EngagementScorer:
    def __init__(self, rules: EngagementRules) -> None:
        self.rules = [
            CompiledEngagementRule(
                r.id,
                r.kind,
                cents(r.points),
                r.source,
                r.form,
                r.product_line,
                r.cap.count if r.cap else None,
                parse_duration(r.cap.per) if r.cap else 0.0,
            )
            for r in rules.rules
        ]
        self.points_by_id = {r.id: r.cents for r in self.rules}
        self.decay_kind = rules.decay.kind
        self.decay_period = parse_duration(rules.decay.period)
        self.max_cents = None if rules.max_total is None else cents(rules.max_total)
        self.horizon = max([r.cap_window for r in self.rules] + [self._zero_after()])

    def _zero_after(self) -> float:
        if self.decay_kind in ("linear", "expire"):
            return self.decay_period
        if self.decay_kind == "half_life":
            return self.decay_period * 20  # 2^-20 of any point rounds to 0
        return math.inf

    def record(self, ledger: Sequence[Entry], interaction: Interaction) -> list[Entry]:
        """The ledger with the interaction's points added (a replay adds nothing)."""
        entries = list(ledger)
        if any(e[3] == interaction.event_id for e in entries):
            return entries
        for rule in self.rules:
            if not rule.matches(interaction):
                continue
            if rule.cap_count is not None:
                lo = interaction.at - rule.cap_window
                used = sum(1 for e in entries if e[0] == rule.id and lo < e[2] <= interaction.at)
                if used >= rule.cap_count:
                    continue
            entries.append((rule.id, rule.cents, interaction.at, interaction.event_id))
        entries.sort(key=lambda e: e[2])
        return entries[-MAX_LEDGER:]

    def factor(self, age: float) -> float:
        if age <= 0 or self.decay_kind == "none":
            return 1.0
        if self.decay_kind == "half_life":
            return float(0.5 ** (age / self.decay_period))
        if self.decay_kind == "linear":
            return max(0.0, 1.0 - age / self.decay_period)
        return 1.0 if age < self.decay_period else 0.0

    def contributions(self, ledger: Sequence[Entry], now: float) -> list[tuple[str, int]]:
        """(rule id, hundredths) per rule after decay, then the total cap as a negative line.

        Points are the rules' in force: a rule whose points changed re-values the past
        engagements it matched, a rule that was removed no longer counts (its entries stay in
        the ledger, so restoring the rule restores them)."""
        per_rule: dict[str, float] = defaultdict(float)
        points_of = self.points_by_id
        for rule_id, _, at, _ in ledger:
            points = points_of.get(rule_id)
            if points is not None:
                per_rule[rule_id] += points * self.factor(now - at)
        out = [(rule_id, round(value)) for rule_id, value in per_rule.items() if round(value) != 0]
        total = sum(c for _, c in out)
        if self.max_cents is not None and total > self.max_cents:
            out.append((CAP_ID, self.max_cents - total))
        return out

    def prune(self, ledger: Sequence[Entry], now: float) -> list[Entry]:
        """Drop entries that can no longer count or cap anything."""
        return [e for e in ledger if now - e[2] < self.horizon]

    def next_change(self, ledger: Sequence[Entry], now: float, interval: float) -> float | None:
        """When the engagement score next needs recomputing because of time alone."""
        if not ledger or self.decay_kind == "none":
            return None
        if self.decay_kind == "expire":
            ends = [e[2] + self.decay_period for e in ledger if e[2] + self.decay_period > now]
            return min(ends) if ends else None
        live = [e for e in ledger if now - e[2] < self._zero_after()]
        if not live:
            return None
        if self.decay_kind == "linear":
            return min(now + interval, max(e[2] for e in live) + self.decay_period)
        return now + interval
