"""Rep notifications (issue 8): who hears what, once, with deterministic ids."""

from __future__ import annotations

from typing import Any

from workers.notify import notices
from workers.notify.notices import Reply
from workers.routing.leads import Decision, Lead


def lead(**kw: Any) -> Lead:
    base: dict[str, Any] = {
        "key": "c1",
        "contact_id": "c1",
        "product_line": "solar",
        "signal_id": "c1:ready:1",
        "status": "assigned",
        "rep_id": "r1",
        "attempt": 1,
        "sla_due": 1000.0,
        "assignment_id": "asg:c1:ready:1",
        "breakdown": [("hot", 20.0)],
    }
    return Lead(**{**base, **kw})


def decision(kind: str = "assigned", rep: str | None = "r1", code: str = "round_robin") -> Decision:
    return Decision("asg:c1:ready:1", "c1", "solar", rep, kind, code, "", ())


def test_sales_ready_goes_to_the_owner_with_the_breakdown() -> None:
    n = notices.sales_ready(
        signal_id="c1:ready:1",
        contact_id="c1",
        owner_id="r9",
        product_line="solar",
        total=72.0,
        stars=4,
        breakdown=[("hot", 20.0), ("demo", 52.0)],
    )
    assert n is not None
    assert (n.rep_id, n.kind) == ("r9", "lead_sales_ready")
    assert n.context["breakdown"] == [
        {"rule_id": "hot", "points": 20.0},
        {"rule_id": "demo", "points": 52.0},
    ]
    kw: dict[str, Any] = {
        "signal_id": "c1:ready:1",
        "contact_id": "c1",
        "owner_id": None,
        "product_line": None,
        "total": 1.0,
        "stars": 1,
        "breakdown": [],
    }
    assert notices.sales_ready(**kw) is None  # no owner: the router assigns, lead_assigned tells


def test_assigned_tells_the_new_rep_only() -> None:
    leads = {"c1": lead()}
    out = notices.assigned(
        [
            decision(),
            decision("owner_notified", "r9", "relationship_owner"),
            decision("queued", None, "no_rep"),
            decision("assigned", "r1", "already_assigned"),
        ],
        leads,
        lambda contact, pl: contact,
    )
    assert [(n.kind, n.rep_id) for n in out] == [("lead_assigned", "r1")]
    assert out[0].context["assignment_id"] == "asg:c1:ready:1"
    assert out[0].context["sla_due"] == 1000.0


def test_one_sla_warning_per_assignment_within_the_window() -> None:
    assert notices.sla_warnings([lead()], now=500.0, before=300.0) == []  # too early
    [(marked, n)] = notices.sla_warnings([lead()], now=800.0, before=300.0)
    assert n.kind == "sla_warning"
    assert n.rep_id == "r1"
    assert marked.warned_attempt == 1
    assert notices.sla_warnings([marked], now=900.0, before=300.0) == []  # once
    assert notices.sla_warnings([lead()], now=1000.0, before=300.0) == []  # expired: reassigned
    again = lead(attempt=2, rep_id="r2", warned_attempt=1)
    [(_, n2)] = notices.sla_warnings([again], now=800.0, before=300.0)
    assert n2.rep_id == "r2"
    assert n2.notification_id != n.notification_id
    assert notices.sla_warnings([lead(status="accepted")], now=800.0, before=300.0) == []
    assert notices.sla_warnings([lead()], now=800.0, before=None) == []


def reply(**kw: Any) -> Reply:
    return Reply(**{"event_id": "e1", "contact_id": "c1", "at": 1.0, **kw})


def test_reply_goes_to_the_event_rep_then_the_assignee_then_the_owner() -> None:
    a = lead()
    by_event = notices.reply(reply(rep_id="r5", owner_id="r9"), [a])
    assert by_event is not None
    assert (by_event.rep_id, by_event.context["via"]) == ("r5", "event")
    by_assignment = notices.reply(reply(owner_id="r9", campaign_id="spring"), [a])
    assert by_assignment is not None
    assert by_assignment.rep_id == "r1"
    assert by_assignment.context["assignment_id"] == "asg:c1:ready:1"
    assert by_assignment.context["campaign_id"] == "spring"
    by_owner = notices.reply(reply(owner_id="r9", source="newsletter"), [])
    assert by_owner is not None
    assert (by_owner.rep_id, by_owner.context["via"]) == ("r9", "owner")
    assert by_owner.context["source"] == "newsletter"
    assert notices.reply(reply(), []) is None


def test_ids_derive_from_the_cause() -> None:
    one = notices.reply(reply(owner_id="r9"), [])
    two = notices.reply(reply(owner_id="r9"), [])
    other = notices.reply(reply(owner_id="r9", event_id="e2"), [])
    assert one is not None
    assert two is not None
    assert other is not None
    assert one.notification_id == two.notification_id != other.notification_id
