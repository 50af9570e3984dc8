"""Rep notifications derived from the router's state and decisions. Pure.

- `lead_sales_ready`: a lead whose contact already has an owner became sales-ready; the owner
  gets the score breakdown (scenario A of source 001).
- `lead_assigned`: a decision gave a lead to a rep.
- `sla_warning`: an assignment is within `sla_warning_before` of its SLA; one per assignment.
- `reply_received`: an `email_reply` goes to the rep it belongs to: the `rep_id` on the event,
  else the rep the lead is assigned to, else the contact's owner; with what it answers.

`notification_id` derives from (kind, cause, rep): a replay re-derives the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from workers.routing.leads import Decision, Lead

ASSIGNED = ("assigned", "accepted", "contacted")


@dataclass(frozen=True)
class Notice:
    notification_id: str
    rep_id: str
    contact_id: str
    kind: str
    context: dict[str, Any] = field(default_factory=dict)
    event_id: str = ""  # the input that caused it


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """An `email_reply` engagement with the contact's owner, forwarded to the router."""

    event_id: str
    contact_id: str
    at: float
    rep_id: str | None = None
    owner_id: str | None = None
    product_line: str | None = None
    source: str | None = None
    campaign_id: str | None = None


def notification_id(kind: str, cause: str, rep_id: str) -> str:
    raw = f"{kind}|{cause}|{rep_id}"
    return "ntf_" + hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def _notice(
    kind: str, cause: str, rep_id: str, contact_id: str, caused_by: str, **context: Any
) -> Notice:
    """`cause`: what the id derives from; `caused_by`: the input event it names."""
    return Notice(
        notification_id(kind, cause, rep_id), rep_id, contact_id, kind, context, caused_by
    )


def sales_ready(
    *,
    signal_id: str,
    contact_id: str,
    owner_id: str | None,
    product_line: str | None,
    total: float,
    stars: int,
    breakdown: Iterable[tuple[str, float]],
    event_id: str | None = None,
) -> Notice | None:
    if not owner_id:
        return None
    return _notice(
        "lead_sales_ready",
        signal_id,
        owner_id,
        contact_id,
        event_id or signal_id,
        signal_id=signal_id,
        product_line=product_line,
        total=total,
        stars=stars,
        breakdown=[{"rule_id": rule, "points": points} for rule, points in breakdown],
    )


def assigned(
    decisions: Iterable[Decision], leads: Mapping[str, Lead], key_of: Callable[[str, str], str]
) -> list[Notice]:
    """One `lead_assigned` per decision that hands a lead to a rep (not to its owner: the
    owner hears `lead_sales_ready`, and not when it merely stays with its rep)."""
    out = []
    for d in decisions:
        if d.rep_id is None or d.decision not in ("assigned", "reassigned"):
            continue
        if d.code == "already_assigned":
            continue
        lead = leads.get(key_of(d.contact_id, d.product_line))
        out.append(
            _notice(
                "lead_assigned",
                d.assignment_id,
                d.rep_id,
                d.contact_id,
                d.event_id,
                assignment_id=d.assignment_id,
                product_line=d.product_line,
                reason=d.code,
                sla_due=lead.sla_due if lead is not None and lead.rep_id == d.rep_id else None,
                breakdown=[{"rule_id": r, "points": p} for r, p in lead.breakdown] if lead else [],
            )
        )
    return out


def sla_warnings(
    leads: Iterable[Lead], now: float, before: float | None
) -> list[tuple[Lead, Notice]]:
    """Assignments within `before` of their SLA and not yet warned: (lead marked, notice)."""
    if before is None:
        return []
    out = []
    for lead in leads:
        if lead.status != "assigned" or lead.sla_due is None or lead.rep_id is None:
            continue
        if lead.warned_attempt >= lead.attempt or not (lead.sla_due - before <= now < lead.sla_due):
            continue
        notice = _notice(
            "sla_warning",
            f"{lead.key}|{lead.attempt}",
            lead.rep_id,
            lead.contact_id,
            lead.cause_event_id or lead.signal_id,
            product_line=lead.product_line,
            sla_due=lead.sla_due,
            seconds_left=round(lead.sla_due - now, 3),
            attempt=lead.attempt,
        )
        out.append((msgspec.structs.replace(lead, warned_attempt=lead.attempt), notice))
    return out


def reply(r: Reply, leads: Iterable[Lead]) -> Notice | None:
    """Where a reply goes, and the campaign or assignment it answers."""
    lead = next(
        (
            x
            for x in leads
            if x.contact_id == r.contact_id
            and x.status in (*ASSIGNED, "owner_notified")
            and x.rep_id
            and (r.product_line is None or x.product_line in (r.product_line, "general"))
        ),
        None,
    )
    if r.rep_id:
        rep, via = r.rep_id, "event"
    elif lead is not None and lead.rep_id:
        rep, via = lead.rep_id, "assignment"
    elif r.owner_id:
        rep, via = r.owner_id, "owner"
    else:
        return None
    answers: dict[str, Any] = {}
    if r.campaign_id:
        answers["campaign_id"] = r.campaign_id
    if r.source:
        answers["source"] = r.source
    if lead is not None and lead.rep_id == rep:
        answers["assignment_id"] = lead.assignment_id or f"asg:{lead.signal_id}"
        answers["product_line"] = lead.product_line
    return _notice(
        "reply_received", r.event_id, rep, r.contact_id, r.event_id, event_id=r.event_id,
        via=via, **answers,
    )  # fmt: skip
