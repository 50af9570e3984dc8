"""Engagement points: a ledger of scored interactions, caps per window, decay with time."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple, TypeGuard

import msgspec

from workers.rules.model import EngagementRules
from workers.scoring.profile import cents
from workers.triggers.durations import parse_duration

FORM_SUBMITTED = "form_submitted"
CAP_ID = "engagement_cap"
MAX_LEDGER = 500
MAX_EXPONENT = 64.0  # decay sums are made anew before a term passes 2 ** 64


class Interaction(NamedTuple):
    """What happened, as the engagement rules see it (a named tuple: one is made per event)."""

    event_id: str
    kind: str
    at: float
    source: str | None = None
    form: str | None = None
    product_line: str | None = None


# A ledger entry: [rule id, hundredths of a point, epoch seconds, event id]. A ledger is kept
# in order of time (`record` keeps it so; every ledger is made by it), oldest first.
Entry = tuple[str, int, float, str]
_AT = itemgetter(2)


class DecaySums(msgspec.Struct, frozen=True, array_like=True):
    """A half-life ledger's decay, kept as the ledger changes: per rule id, the sum over its
    entries of 2 ** ((at - anchor) / period). The rule's points at `now` are then its points
    times that sum times 0.5 ** ((now - anchor) / period): one power a rule per re-score
    instead of one per entry. They are the ledger's only when made for this `period` and for
    a ledger of `size` entries (`record_summed` and `prune_summed` keep them so)."""

    period: float
    anchor: float
    size: int
    sums: dict[str, float]


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
        self.by_kind: dict[str, list[CompiledEngagementRule]] = {}  # in the rules' order
        for rule in self.rules:
            self.by_kind.setdefault(rule.kind, []).append(rule)
        self.decay_kind = rules.decay.kind
        self.decay_period = parse_duration(rules.decay.period)
        self.max_cents = None if rules.max_total is None else cents(rules.max_total)
        self.horizon = max([r.cap_window for r in self.rules] + [self._zero_after()])
        self.order = [r.id for r in self.rules]  # the breakdown's order (ids are unique)

    def _zero_after(self) -> float:
        if self.decay_kind in ("linear", "expire"):
            return self.decay_period
        if self.decay_kind == "half_life":
            return self.decay_period * 20  # 2^-20 of any point rounds to 0
        return math.inf

    def record(self, ledger: Sequence[Entry], interaction: Interaction) -> list[Entry]:
        """The ledger with the interaction's points added (a replay adds nothing), in order of
        time: the new entries go after those at the same time or earlier."""
        return self._record(ledger, interaction)[0]

    def record_summed(
        self, ledger: Sequence[Entry], sums: DecaySums | None, interaction: Interaction
    ) -> tuple[list[Entry], DecaySums | None]:
        """`record`, and the ledger's decay sums with it (made anew when `sums` are not the
        ledger's; None when the decay is not half-life)."""
        if not self._sums_of(sums, ledger):
            entries = self._record(ledger, interaction)[0]
            return entries, self.decay_sums(entries)
        entries, added, dropped = self._record(ledger, interaction)
        moved = _moved(sums, added, dropped, len(entries))
        return entries, moved if moved is not None else self.decay_sums(entries)

    def _record(
        self, ledger: Sequence[Entry], interaction: Interaction
    ) -> tuple[list[Entry], list[Entry], list[Entry]]:
        """The new ledger, the entries added to it, and those the size limit dropped."""
        at = interaction.at
        if ledger and ledger[-1][2] >= at and _recorded(ledger, interaction.event_id, at):
            return list(ledger), [], []
        added: list[Entry] = []
        for rule in self.by_kind.get(interaction.kind, ()):
            if not rule.matches(interaction):
                continue
            if _capped(ledger, rule, at):
                continue
            added.append((rule.id, rule.cents, at, interaction.event_id))
        if not added:
            return list(ledger), [], []
        if not ledger or ledger[-1][2] <= at:  # the usual case: one copy, already cut
            over = len(ledger) + len(added) - MAX_LEDGER
            if over <= 0:
                return [*ledger, *added], added, []
            return [*ledger[over:], *added], added, list(ledger[:over])
        entries = list(ledger)  # a late event: in its place
        i = bisect_right(entries, at, key=_AT)
        entries[i:i] = added
        if len(entries) <= MAX_LEDGER:
            return entries, added, []
        return entries[-MAX_LEDGER:], added, entries[:-MAX_LEDGER]

    def decay_sums(self, ledger: Sequence[Entry]) -> DecaySums | None:
        """The decay sums of `ledger`, made from its entries (None but for half-life),
        anchored at its newest entry: older terms are below 1 (the oldest, 20 half-lives back
        at most once pruned, still far from the smallest float), newer ones come later."""
        if self.decay_kind != "half_life":
            return None
        anchor = ledger[-1][2] if ledger else 0.0
        sums: dict[str, float] = {}
        for rule_id, _, at, _ in ledger:
            sums[rule_id] = sums.get(rule_id, 0.0) + 2.0 ** ((at - anchor) / self.decay_period)
        return DecaySums(self.decay_period, anchor, len(ledger), sums)

    def decay_total(
        self, ledger: Sequence[Entry], sums: DecaySums | None, now: float
    ) -> tuple[float, int, float] | None:
        """The ledger's exact points as one power of time, when its sums tell them and decay
        can only lower them (every rule's points positive, no entry newer than `now`):
        (points at the anchor, rules counted, anchor), the points at t being the first times
        0.5 ** ((t - anchor) / period). None otherwise."""
        if not self._sums_of(sums, ledger) or (ledger and ledger[-1][2] > now):
            return None
        weight, rules = 0.0, 0
        for rule_id, summed in sums.sums.items():
            points = self.points_by_id.get(rule_id)
            if points is None:
                continue
            if points < 0:
                return None
            if summed > 0.0:
                weight += points * summed
            rules += 1
        return weight, rules, sums.anchor

    def _sums_of(self, sums: DecaySums | None, ledger: Sequence[Entry]) -> TypeGuard[DecaySums]:
        """Whether `sums` are `ledger`'s, for this half-life."""
        return (
            sums is not None
            and sums.size == len(ledger)
            and sums.period == self.decay_period
            and self.decay_kind == "half_life"
        )

    def factor(self, age: float) -> float:
        if age <= 0 or self.decay_kind == "none":
            return 1.0
        if self.decay_kind == "half_life":
            return float(0.5 ** (age / self.decay_period))
        if self.decay_kind == "linear":
            return max(0.0, 1.0 - age / self.decay_period)
        return 1.0 if age < self.decay_period else 0.0

    def contributions(
        self, ledger: Sequence[Entry], now: float, sums: DecaySums | None = None
    ) -> list[tuple[str, int]]:
        """See `contributions_summed`: the lines alone."""
        return self.contributions_summed(ledger, now, sums)[0]

    def contributions_summed(
        self, ledger: Sequence[Entry], now: float, sums: DecaySums | None = None
    ) -> tuple[list[tuple[str, int]], int]:
        """(rule id, hundredths) per rule after decay, in the rules' order, then the total cap
        as a negative line; and their sum. `sums`: the ledger's decay sums, when the caller
        keeps them.

        Points are the rules' in force: a rule whose points changed re-values the past
        engagements it matched, a rule that was removed no longer counts (its entries stay in
        the ledger, so restoring the rule restores them)."""
        points_of = self.points_by_id.get
        per_rule: dict[str, float]
        fresh = not ledger or ledger[-1][2] <= now  # no engagement newer than `now`
        if self._sums_of(sums, ledger) and fresh:
            scale = 0.5 ** ((now - sums.anchor) / sums.period)
            per_rule = {}
            for rule_id, summed in sums.sums.items():
                points = points_of(rule_id)
                if points is not None:
                    per_rule[rule_id] = points * summed * scale
        else:
            per_rule = self._decayed(ledger, now)
        out, total = [], 0
        for rule_id in self.order:
            value = per_rule.get(rule_id)
            if value is not None:
                cents = round(value)
                if cents != 0:
                    out.append((rule_id, cents))
                    total += cents
        if self.max_cents is not None and total > self.max_cents:
            out.append((CAP_ID, self.max_cents - total))
            total = self.max_cents
        return out, total

    def _decayed(self, ledger: Sequence[Entry], now: float) -> dict[str, float]:
        """Per rule, its points after decay, entry by entry (an entry not older than `now`
        counts in full)."""
        per_rule: dict[str, float] = {}
        points_of, so_far = self.points_by_id.get, per_rule.get
        if self.decay_kind == "half_life":  # the usual decay, inline: this runs per entry
            period = self.decay_period
            for rule_id, _, at, _ in ledger:
                points = points_of(rule_id)
                if points is not None:
                    age = now - at
                    value = points * 0.5 ** (age / period) if age > 0 else points * 1.0
                    per_rule[rule_id] = so_far(rule_id, 0.0) + value
        else:
            factor = self.factor
            for rule_id, _, at, _ in ledger:
                points = points_of(rule_id)
                if points is not None:
                    per_rule[rule_id] = so_far(rule_id, 0.0) + points * factor(now - at)
        return per_rule

    def prune(self, ledger: Sequence[Entry], now: float) -> list[Entry]:
        """Drop entries that can no longer count or cap anything."""
        horizon = self.horizon
        if not ledger or now - ledger[0][2] < horizon:  # the oldest still counts
            return list(ledger)  # the common case: nothing to drop
        return [e for e in ledger if now - e[2] < horizon]

    def prune_summed(
        self, ledger: Sequence[Entry], sums: DecaySums | None, now: float
    ) -> tuple[list[Entry], DecaySums | None]:
        """`prune`, and the ledger's decay sums with it: made anew (see `decay_sums`) when
        anything was dropped or they were not the ledger's."""
        kept = self.prune(ledger, now)
        if len(kept) == len(ledger) and self._sums_of(sums, ledger):
            return kept, sums
        return kept, self.decay_sums(kept)

    def next_change(self, ledger: Sequence[Entry], now: float, interval: float) -> float | None:
        """When the engagement score next needs recomputing because of time alone."""
        if not ledger or self.decay_kind == "none":
            return None
        if self.decay_kind == "expire":
            ends = [e[2] + self.decay_period for e in ledger if e[2] + self.decay_period > now]
            return min(ends) if ends else None
        newest = ledger[-1][2]
        if not now - newest < self._zero_after():
            return None  # no entry still counts
        if self.decay_kind == "linear":
            return min(now + interval, newest + self.decay_period)
        return now + interval


def _recorded(ledger: Sequence[Entry], event_id: str, at: float) -> bool:
    """Whether the event is in the ledger already. An event's entries all carry its own time
    (`at`), so only the entries at that time are looked at: none, for the usual engagement,
    newer than the whole ledger."""
    lo = bisect_left(ledger, at, key=_AT)
    same_time = ledger[lo : bisect_right(ledger, at, lo=lo, key=_AT)]
    return any(entry[3] == event_id for entry in same_time)


def _capped(entries: Sequence[Entry], rule: CompiledEngagementRule, at: float) -> bool:
    """Whether `rule`'s cap is full at `at`: its entries in (at - window, at], counted from
    the newest back (the ledger is in order of time), up to the cap."""
    limit = rule.cap_count
    if limit is None:
        return False
    if limit <= 0:
        return True  # a cap of 0: the rule never counts
    lo, used = at - rule.cap_window, 0
    for entry in reversed(entries):
        when = entry[2]
        if when <= lo:
            break
        if when <= at and entry[0] == rule.id:
            used += 1
            if used >= limit:
                return True
    return False


def _moved(
    sums: DecaySums, added: Sequence[Entry], dropped: Sequence[Entry], size: int
) -> DecaySums | None:
    """`sums` with the terms of `added` entries in and those of `dropped` ones out; None when
    they are better made anew: the ledger was empty (no anchor yet), or an entry comes so
    long after the anchor that its term would grow past 2 ** MAX_EXPONENT."""
    if not added and not dropped:
        return sums
    anchor, period = sums.anchor, sums.period
    if sums.size == 0 or any((e[2] - anchor) / period > MAX_EXPONENT for e in added):
        return None
    new = dict(sums.sums)
    for rule_id, _, at, _ in added:
        new[rule_id] = new.get(rule_id, 0.0) + 2.0 ** ((at - anchor) / period)
    for rule_id, _, at, _ in dropped:
        new[rule_id] = new.get(rule_id, 0.0) - 2.0 ** ((at - anchor) / period)
    return DecaySums(period, anchor, size, new)
