"""The router's records: a lead, a decision about it, and what one router step changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from workers.routing.queue import Queue
from workers.routing.roster import Rep


class Lead(msgspec.Struct, kw_only=True, gc=False):
    key: str
    contact_id: str
    product_line: str
    owner_id: str | None = None
    signal_id: str
    status: str = "new"  # queued | assigned | owner_notified | accepted | contacted
    rep_id: str | None = None
    assigned_at: float = 0.0
    sla_due: float | None = None
    excluded: list[str] = []
    attempt: int = 0
    queued_at: float = 0.0
    ready_at: float = 0.0
    breakdown: list[tuple[str, float]] = []
    warned_attempt: int = 0  # the assignment attempt an SLA warning was sent for
    assignment_id: str = ""  # the decision that gave it to its current rep
    round: int = 1  # a new round starts when every rep of the line has passed over it
    cause_event_id: str = ""  # the input that made it sales-ready: what its decisions name


@dataclass(frozen=True)
class Decision:
    assignment_id: str
    contact_id: str
    product_line: str
    rep_id: str | None
    decision: str  # assigned | owner_notified | queued | reassigned
    code: str
    text: str
    candidates: tuple[str, ...]
    event_id: str = ""  # the input that caused it (a tick's decision: its lead's cause)
    due_at: float | None = None  # an SLA expiry's decision: when the SLA expired


@dataclass
class Outcome:
    reps: dict[str, Rep] = field(default_factory=dict)  # changed reps
    leads: dict[str, Lead] = field(default_factory=dict)  # changed leads
    queues: dict[str, Queue] = field(default_factory=dict)  # changed queues
    decisions: list[Decision] = field(default_factory=list)
    seq: int = 0
