"""The whole score of a contact, explained rule by rule, and the sales-ready decision."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from workers.rules.model import Rules
from workers.scoring.contact import ContactState, Snapshot
from workers.scoring.engagement import EngagementScorer
from workers.scoring.profile import ProfileScorer, cents
from workers.scoring.stars import StarRater, next_ready
from workers.triggers.durations import parse_duration


@dataclass(frozen=True)
class Rescore:
    state: ContactState
    snapshot: Snapshot
    changed: bool  # the published score differs from the last one
    became_ready: bool  # an entry into sales-ready: one signal


class Scorer:
    def __init__(self, rules: Rules) -> None:
        s = rules.scoring
        self.version = rules.version
        self.contact = ProfileScorer(s.profile.contact)
        self.organization = ProfileScorer(s.profile.organization)
        self.engagement = EngagementScorer(s.engagement)
        ideal = self.contact.best_possible() + self.organization.best_possible()
        if s.engagement.max_total is not None:
            ideal += cents(s.engagement.max_total)
        self.rater = StarRater(s.stars, ideal)
        self.threshold = cents(s.sales_ready.threshold)
        self.hysteresis = cents(s.sales_ready.hysteresis)
        self.rescore_interval = parse_duration(s.rescore_interval)
        self.resolution = max(1, cents(s.publish_resolution))

    def snapshot(self, state: ContactState, now: float) -> Snapshot:
        fit = self.contact.contributions(state.fields) + self.organization.contributions(
            state.org_fields
        )
        engagement = self.engagement.contributions(state.ledger, now, state.decay)
        fit_c = sum(c for _, c in fit)
        eng_c = sum(c for _, c in engagement)
        total = fit_c + eng_c
        ready = next_ready(state.ready, total, self.threshold, self.hysteresis)
        return Snapshot(
            fit=fit_c,
            engagement=eng_c,
            total=total,
            stars=self.rater.stars(total),
            grade=self.rater.grade(total),
            ready=ready,
            breakdown=fit + engagement,
            rules_version=self.version,
        )

    def rescore(self, state: ContactState, now: float) -> Rescore:
        """The score now. `state.last` stays the last *published* score, so a slow decay
        publishes once it adds up to the resolution, not at every re-score; a new rules version
        that changes nothing worth publishing is recorded in it all the same."""
        snap = self.snapshot(state, now)
        last = state.last
        changed = snap.worth_publishing(last, self.resolution)
        became_ready = snap.ready and not state.ready
        if not changed and last is not None and last.rules_version != snap.rules_version:
            last = msgspec.structs.replace(last, rules_version=snap.rules_version)
        ledger, decay = self.engagement.prune_summed(state.ledger, state.decay, now)
        new = msgspec.structs.replace(
            state,
            last=snap if changed else last,
            ledger=ledger,
            decay=decay,
            ready_entries=state.ready_entries + (1 if became_ready else 0),
        )
        return Rescore(new, snap, changed, became_ready)

    def next_rescore(self, state: ContactState, now: float) -> float | None:
        """When time alone may change this contact's score (decay), None if never."""
        if state.deleted:
            return None
        if state.last is not None and state.last.rules_version != self.version:
            return now
        return self.engagement.next_change(state.ledger, now, self.rescore_interval)
