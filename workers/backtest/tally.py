"""What one rule set did over a replay, per day: pure counting of the workers' outputs.

`add(topic, record, at)` takes each output (contract name, decoded JSON, the replay clock when
it went out); the counts are keyed `(metric, label)` so that two tallies line up key by key.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from workers.topics.internal import SALES_READY

SALES_READY_LEADS = "sales_ready"
_SCORES = ("scores", "")
Key = tuple[str, str]  # (metric, label); label "" when the metric has none


@dataclass
class ContactOutcome:
    """A contact's last score in the window, and whether it became sales-ready in it."""

    total: float = 0.0
    stars: int = 0
    sales_ready: bool = False
    signalled: bool = False
    breakdown: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Tally:
    counts: dict[str, Counter[Key]] = field(default_factory=dict)  # day -> counts
    queue_peak: dict[str, int] = field(default_factory=dict)  # day -> deepest queue seen
    waits: list[float] = field(default_factory=list)  # seconds from sales-ready to assigned
    contacts: dict[str, ContactOutcome] = field(default_factory=dict)
    _queued: set[str] = field(default_factory=set)
    _ready_at: dict[str, float] = field(default_factory=dict)  # lead -> when it became ready
    # contact -> the function that makes its last score (as a worker sends it)
    _last_scores: dict[str, Callable[[], bytes]] = field(default_factory=dict)
    # the last day counted: its bounds, name, counts, and the time zone it is a day of
    _span: tuple[dt.datetime, dt.datetime, str, Counter[Key], dt.tzinfo | None] | None = None

    def add(self, topic: str, record: dict[str, Any], at: dt.datetime) -> None:
        handler = _HANDLERS.get(topic)
        if handler is not None:
            day, counts = self._day(at)
            handler(self, counts, record, at.timestamp(), day)

    def add_score(self, contact: str, made: Callable[[], bytes], at: dt.datetime) -> None:
        """A published score, as the function that makes it: only each contact's last one is
        made and read (`settle`)."""
        self._day(at)[1][_SCORES] += 1
        self._last_scores[contact] = made

    def _day(self, at: dt.datetime) -> tuple[str, Counter[Key]]:
        """The day of `at` (in its own offset, UTC for the replay's clock) and its counts; the
        last day's bounds are kept, as outputs come in order of time."""
        span = self._span
        if span is not None and span[4] is at.tzinfo and span[0] <= at < span[1]:
            return span[2], span[3]
        day = at.date().isoformat()
        counts = self.counts.get(day)
        if counts is None:
            counts = self.counts[day] = Counter()
        start = dt.datetime.combine(at.date(), dt.time(), at.tzinfo)
        self._span = (start, start + dt.timedelta(days=1), day, counts, at.tzinfo)
        return day, counts

    def settle(self) -> None:
        """Read the last score kept of each contact into its outcome."""
        for made in self._last_scores.values():
            body = orjson.loads(made())
            if isinstance(body, dict):
                self._last(body)
        self._last_scores.clear()

    # --- one per output topic ---------------------------------------------------------------
    def _signal(self, counts: Counter[Key], r: dict[str, Any], now: float, day: str) -> None:
        counts[(SALES_READY_LEADS, "")] += 1
        contact = str(r.get("contact_id"))
        self._outcome(contact).signalled = True
        self._ready_at.setdefault(_lead(contact, r.get("product_line")), now)

    def _score(self, counts: Counter[Key], r: dict[str, Any], now: float, day: str) -> None:
        self._last_scores.pop(str(r.get("contact_id")), None)  # this one is later
        self._last(r)
        counts[("scores", "")] += 1

    def _last(self, r: dict[str, Any]) -> None:
        outcome = self._outcome(str(r.get("contact_id")))
        outcome.total = float(r.get("total") or 0.0)
        outcome.stars = int(r.get("stars") or 0)
        outcome.sales_ready = bool(r.get("sales_ready"))
        outcome.breakdown = [(str(b["rule_id"]), float(b["points"])) for b in r["breakdown"]]

    def _assignment(self, counts: Counter[Key], r: dict[str, Any], now: float, day: str) -> None:
        decision = str(r.get("decision"))
        line = str(r.get("product_line") or "general")
        code = str((r.get("reason") or {}).get("code") or "")
        lead = _lead(str(r.get("contact_id")), r.get("product_line"))
        released = decision == "assigned" and code == "released"  # from the queue, later
        counts[("decisions", "released" if released else decision)] += 1
        if decision in ("assigned", "reassigned"):
            counts[("assignments_by_rep", str(r.get("rep_id")))] += 1
            counts[("assignments_by_line", line)] += 1
        if r.get("due_at") is not None:  # taken back from a rep who let the SLA pass (given to
            counts[("sla_reassignments", "")] += 1  # another, or queued; any reason code)
        if decision == "queued":
            self._queued.add(lead)
        else:
            self._queued.discard(lead)
            ready = self._ready_at.pop(lead, None)
            if ready is not None and decision == "assigned":
                self.waits.append(max(0.0, now - ready))
        self.queue_peak[day] = max(self.queue_peak.get(day, 0), len(self._queued))

    def _firing(self, counts: Counter[Key], r: dict[str, Any], now: float, day: str) -> None:
        counts[("trigger_firings", str(r.get("trigger_id")))] += 1

    def _move(self, counts: Counter[Key], r: dict[str, Any], now: float, day: str) -> None:
        counts[("stage_moves", str(r.get("rule_id")))] += 1

    def _notice(self, counts: Counter[Key], r: dict[str, Any], now: float, day: str) -> None:
        counts[("notifications", str(r.get("kind")))] += 1

    def _owner(self, counts: Counter[Key], r: dict[str, Any], now: float, day: str) -> None:
        counts[("owner_changes", "")] += 1

    def _dead(self, counts: Counter[Key], r: dict[str, Any], now: float, day: str) -> None:
        counts[("dead_letters", "")] += 1

    def _outcome(self, contact: str) -> ContactOutcome:
        found = self.contacts.get(contact)
        if found is None:
            found = self.contacts[contact] = ContactOutcome()
        return found

    # --- summaries --------------------------------------------------------------------------
    def totals(self) -> Counter[Key]:
        total: Counter[Key] = Counter()
        for counts in self.counts.values():
            total.update(counts)
        return total

    def stars(self) -> Counter[int]:
        """How many contacts end the window with each star count (0-5)."""
        return Counter(o.stars for o in self.contacts.values())


def _lead(contact: str, product_line: object) -> str:
    return f"{contact}|{product_line or ''}"


SCORES = "crm.lead-scores"
_HANDLERS = {
    SALES_READY: Tally._signal,
    SCORES: Tally._score,
    "crm.lead-assignments": Tally._assignment,
    "crm.trigger-firings": Tally._firing,
    "crm.stage-moves": Tally._move,
    "crm.rep-notifications": Tally._notice,
    "crm.owner-changes": Tally._owner,
    "crm.dead-letters": Tally._dead,
}
TOPICS = tuple(_HANDLERS)
