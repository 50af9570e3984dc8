"""The whole score of a contact, explained rule by rule, and the sales-ready decision."""

from __future__ import annotations

import math
from collections import OrderedDict

import msgspec

from workers.rules.model import Rules, Scalar
from workers.scoring.contact import ContactState, Snapshot, interest
from workers.scoring.engagement import EngagementScorer, Interaction
from workers.scoring.native import Ledger, native_core, score_core
from workers.scoring.profile import ProfileScorer, cents
from workers.scoring.stars import StarRater, next_ready
from workers.text import shared
from workers.triggers.durations import parse_duration

MEMO_SIZE = 65536  # (published total, sales-ready) pairs a scorer remembers the floor of
# contacts a scorer remembers the profile lines of by default: the newest, with their field maps
# (a worker reads its states anew from the table at each batch: there it helps within a batch)
FITS_SIZE = 4096
Fields = dict[str, Scalar]
Fit = tuple[list[tuple[str, int]], int]  # the profile's lines, and their sum
# an engagement's changes to a contact: (its ledger recorded, product line, product lines,
# interest at), as `record` and `interest` make them
Engaged = tuple[Ledger, str | None, list[str], float] | None


class Rescore(msgspec.Struct, frozen=True, gc=False):  # one is made per re-score: made in C
    state: ContactState
    snapshot: Snapshot | None  # the score to publish: None when there is none (not `changed`)
    changed: bool  # the published score differs from the last one
    became_ready: bool  # an entry into sales-ready: one signal
    due: float | None  # when decay may next change what is published (`next_rescore`)


class Scorer:
    def __init__(self, rules: Rules, profiles: int = FITS_SIZE) -> None:
        """`profiles`: how many contacts' profile lines to remember."""
        self.profiles = max(1, profiles)
        s = rules.scoring
        self.version = rules.version
        self.contact = ProfileScorer(s.profile.contact)
        self.organization = ProfileScorer(s.profile.organization)
        self.engagement = EngagementScorer(s.engagement)  # the rules, compiled (the reference)
        self.ledgers = native_core(self.engagement)  # their arithmetic over native ledgers
        ideal = self.contact.best_possible() + self.organization.best_possible()
        if s.engagement.max_total is not None:
            ideal += cents(s.engagement.max_total)
        self.rater = StarRater(s.stars, ideal)
        self.threshold = cents(s.sales_ready.threshold)
        self.hysteresis = cents(s.sales_ready.hysteresis)
        self.rescore_interval = parse_duration(s.rescore_interval)
        self.resolution = max(1, cents(s.publish_resolution))
        self.core = score_core(
            self.ledgers,
            self.rater,
            self.threshold,
            self.hysteresis,
            self.resolution,
            self.rescore_interval,
        )
        # what `engage` makes its results with (ScoreCore.engage)
        self._makers = (Snapshot, Rescore, self.version, shared)
        # the lowest total alike, by the published total and sales-ready (bounded)
        self._lowest: dict[tuple[int, bool], int] = {}
        # oldest first: an OrderedDict drops its oldest in constant time (a dict's first key is
        # found by a scan past the slots its deletions left, until it is resized)
        self._fits: OrderedDict[str, tuple[Fields, Fields, Fields, Fit]] = OrderedDict()

    def snapshot(self, state: ContactState, now: float) -> Snapshot:
        fit, fit_c = self._fit(state)
        engagement, eng_c = self.ledgers.contributions(state.ledger, now)
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

    def _fit(self, state: ContactState) -> Fit:
        """The profile's lines of `state` and their sum, remembered for the newest contacts
        while their field maps are the same objects: a state's field maps are replaced, never
        changed, when an event changes them, and most re-scores (an engagement, decay) change
        none."""
        crm, form, org = state.crm_fields, state.form_fields, state.org_fields
        fits = self._fits
        found = fits.get(state.contact_id)
        if found is not None and found[0] is crm and found[1] is form and found[2] is org:
            return found[3]
        lines = self.contact.contributions({**form, **crm}) + self.organization.contributions(org)
        fit = (lines, sum([c for _, c in lines]))
        fits.pop(state.contact_id, None)
        if len(fits) >= self.profiles:
            fits.popitem(last=False)  # the oldest
        fits[state.contact_id] = (crm, form, org, fit)
        return fit

    def record(self, ledger: Ledger, interaction: Interaction) -> Ledger:
        """The ledger with the interaction's points added (a replay adds nothing)."""
        return self.ledgers.record(ledger, *interaction)

    def rescore(
        self, state: ContactState, now: float, cause: str | None = None, engaged: Engaged = None
    ) -> Rescore:
        """The score now (its `Snapshot` when it is worth publishing, `changed`; None
        otherwise), and when decay may next change what is then published (as `next_rescore`
        given this re-score's `snapshot`): one native call (workers/native), whose reference
        is `snapshot` and `next_rescore`. `state.last` stays the last *published*
        score, so a slow decay publishes once it adds up to the resolution, not at every
        re-score; a new rules version that changes nothing worth publishing is recorded in it
        all the same. The new state counts a published score in `scores`, and names `cause`
        (an input's event id) as what its scores come from, when one is given.

        `engaged`: an engagement's changes to `state` (the ledger `record` made, and its
        interest: `apply_engagement`), made in the one copy of the state the re-score makes,
        as if they were made before it (an engagement changes nothing else the score reads)."""
        fit, fit_c = self._fit(state)
        last = state.last
        published = None if last is None else (last.total, last.stars, last.ready, last.grade)
        if engaged is None:
            recorded, line, of_interest, interest_at = (
                state.ledger, state.product_line, state.product_lines, state.interest_at
            )  # fmt: skip
        else:
            recorded, line, of_interest, interest_at = engaged
        lines, eng_c, total, stars, grade, ready, changed, ledger, due = self.core.rescore(
            recorded, fit_c, state.ready, published, now, state.deleted
        )
        snap = None
        if lines is not None:  # `changed`: the score is published (a third of a month's)
            snap = last = Snapshot(
                fit=fit_c,
                engagement=eng_c,
                total=total,
                stars=stars,
                grade=grade,
                ready=ready,
                breakdown=fit + lines,
                rules_version=self.version,
            )
        elif last is not None and last.rules_version != self.version:
            last = msgspec.structs.replace(last, rules_version=self.version)
        became_ready = ready and not state.ready
        entries = state.ready_entries + 1 if became_ready else state.ready_entries
        scores = state.scores + 1 if changed else state.scores
        cause = state.cause_event_id if cause is None else cause
        new = msgspec.structs.replace(state, last=last, ledger=ledger,
                                      ready_entries=entries, scores=scores, cause_event_id=cause,
                                      product_line=line, product_lines=of_interest,
                                      interest_at=interest_at)  # fmt: skip
        return Rescore(new, snap, changed, became_ready, due)

    def engage(
        self,
        state: ContactState,
        now: float,
        event_id: str,
        kind: str,
        at: float,
        source: str | None,
        product_line: str | None,
    ) -> Rescore:
        """An engagement (its fields) applied to `state`, and the contact re-scored at `now`
        with it as the cause: `rescore(state, now, event_id, engaged)` with `engaged` made of
        the ledger `record`ed and `interest` (the reference), in one native call."""
        fit, fit_c = self._fit(state)
        done: Rescore | None = self.core.engage(
            state, fit, fit_c, now, event_id, kind, at, source, product_line, self._makers
        )
        if done is not None:
            return done
        # the last score published is of another rules version: the reference records this one
        ledger = self.ledgers.record(state.ledger, event_id, kind, at, source, None, product_line)
        return self.rescore(state, now, event_id, (ledger, *interest(state, product_line, at)))

    def next_rescore(
        self, state: ContactState, now: float, snapshot: Snapshot | None = None
    ) -> float | None:
        """When time alone may change this contact's score (decay), None if never. Given the
        `snapshot` of a re-score at `now` that left `state`, the re-scores every interval
        from `now` that provably publish nothing are skipped: the first one due is the first
        that may publish (the same one, at the same time, as without skipping)."""
        if state.deleted:
            return None
        last = state.last
        if last is not None and last.rules_version != self.version:
            return now
        due = self.ledgers.next_change(state.ledger, now, self.rescore_interval)
        half_life = self.engagement.decay_kind == "half_life"  # its due: the next interval
        if due is None or snapshot is None or last is None or not half_life:
            return due
        quiet = self._quiet_until(state, last, snapshot, now)
        if quiet is None:
            return None
        steps = max(1, math.ceil((quiet - now) / self.rescore_interval))
        return now + steps * self.rescore_interval

    def _quiet_until(
        self, state: ContactState, last: Snapshot, snap: Snapshot, now: float
    ) -> float | None:
        """A time before which decay cannot change what `last` published (None: never), or
        `now` when that cannot be told cheaply. Decay only lowers a ledger of points that are
        all positive, so the total only falls; each rule's rounded points are at least its
        exact points less a half, and with half-life those fall as one power of time."""
        found = self.ledgers.decay_total(state.ledger, now)
        if found is None or snap.worth_publishing(last, self.resolution):
            return now
        weight, rules, anchor = found
        lowest = self._lowest_total(last, snap)
        if lowest is None:
            return None  # even with no engagement left, the published score stands
        need = lowest - snap.fit + rules / 2  # exact engagement points that keep it (> 0)
        if weight <= need:
            return now
        period = self.engagement.decay_period
        return anchor + period * math.log2(weight / need) - 1.0  # a second's margin

    def _lowest_total(self, last: Snapshot, snap: Snapshot) -> int | None:
        """The lowest total, from `snap`'s down to its fit alone, that publishes nothing new
        against `last` (None: down to the fit alone). Each part of what is published grows
        with the total (the rounded total, the stars, the grade, sales-ready given `last`'s),
        so those totals are one range: its bottom is the highest of the parts' floors."""
        key = (last.total, last.ready)
        lowest = self._lowest.get(key)
        if lowest is None:
            if len(self._lowest) >= MEMO_SIZE:
                self._lowest.clear()
            lowest = self._lowest[key] = self._floor(last)
        return None if lowest <= snap.fit else lowest

    def _floor(self, last: Snapshot) -> int:
        """The highest of the floors of what `last` published."""
        resolution, rounded = self.resolution, round(last.total / self.resolution)
        lowest = ((2 * rounded - 1) * resolution) // 2  # (rounded - 1/2) * resolution, or below
        while round(lowest / resolution) < rounded:  # one step or two: ties round to even
            lowest += 1
        floors = [lowest]
        alike = self.rater.lowest_alike(last.total)
        if alike is not None:
            floors.append(alike)
        if last.ready:
            floors.append(self.threshold - self.hysteresis)
        return max(floors)
