"""The router's state machine: owner first, queues in arrival order, SLA, rejection, replay."""

from __future__ import annotations

from workers.routing.leads import Lead, Outcome
from workers.routing.roster import Rep
from workers.routing.router import Router
from workers.rules.loader import parse_rules

MONDAY_10 = 1793613600.0  # 2026-11-02 10:00 UTC, a Monday
RULES = """
version: r
routing:
  product_lines:
    crm: {policy: relationship_owner, fallback: round_robin, sla: 4h}
    erp: {policy: round_robin, sla: 1h}
"""
router = Router(parse_rules(RULES).routing)


def rep(rep_id: str, lines: list[str], **kw: object) -> Rep:
    return Rep(rep_id=rep_id, product_lines=lines, **kw)  # type: ignore[arg-type]


def signal(
    reps: dict[str, Rep],
    lead: Lead | None,
    queue: list[str],
    contact: str,
    pl: str,
    owner: str | None = None,
    n: int = 1,
    now: float = MONDAY_10,
) -> Outcome:
    return router.on_sales_ready(
        reps,
        lead,
        queue,
        signal_id=f"{contact}:ready:{n}",
        contact_id=contact,
        owner_id=owner,
        product_line=pl,
        breakdown=[],
        now=now,
        seq=0,
    )


def test_the_owner_is_notified_and_nothing_is_reassigned() -> None:
    out = signal({"a": rep("a", ["crm"])}, None, [], "c1", "crm", owner="rep-owner")
    (d,) = out.decisions
    assert (d.decision, d.rep_id, d.code, d.assignment_id) == (
        "owner_notified",
        "rep-owner",
        "relationship_owner",
        "asg:c1:ready:1",
    )
    assert not out.reps


def test_without_owner_the_fallback_assigns_and_a_replay_decides_nothing() -> None:
    reps = {"a": rep("a", ["crm"]), "b": rep("b", ["crm"])}
    out = signal(reps, None, [], "c1", "crm")
    (d,) = out.decisions
    assert (d.decision, d.rep_id, d.candidates) == ("assigned", "a", ("a", "b"))
    again = signal({**reps, **out.reps}, out.leads["c1"], [], "c1", "crm")
    assert again.decisions == []


def test_at_capacity_queues_then_releases_in_arrival_order_the_next_day() -> None:
    reps = {"a": rep("a", ["erp"], per_day=1, day="2026-11-02", assigned_day=1)}
    q1 = signal(reps, None, [], "c1", "erp")
    q2 = signal(reps, None, q1.queues["erp"], "c2", "erp")
    assert [d.code for d in q1.decisions + q2.decisions] == ["all_at_capacity", "all_at_capacity"]
    queue = q2.queues["erp"]
    assert queue == ["c1", "c2"]
    leads = {**q1.leads, **q2.leads}
    same_day = router.on_time(reps, leads, {"erp": queue}, now=MONDAY_10 + 3600, seq=0)
    assert same_day.decisions == []
    next_day = router.on_time(reps, leads, {"erp": queue}, now=MONDAY_10 + 86400, seq=0)
    assert [(d.contact_id, d.decision, d.code) for d in next_day.decisions] == [
        ("c1", "assigned", "released")
    ]
    assert next_day.queues["erp"] == ["c2"]


def test_sla_expiry_reassigns_to_another_rep_and_rejection_reassigns_at_once() -> None:
    reps = {"a": rep("a", ["erp"]), "b": rep("b", ["erp"]), "c": rep("c", ["erp"])}
    first = signal(reps, None, [], "c1", "erp")
    reps = {**reps, **first.reps}
    lead = first.leads["c1"]
    assert lead.rep_id == "a"
    later = router.on_time(reps, {"c1": lead}, {}, now=MONDAY_10 + 3601, seq=1)
    (d,) = later.decisions
    assert (d.decision, d.code, d.rep_id) == ("reassigned", "sla_expired", "b")
    assert first.decisions[0].due_at is None
    assert d.due_at == lead.sla_due  # when the SLA expired, not the tick that found it
    assert later.reps["a"].open_leads == 0
    reps = {**reps, **later.reps}
    rejected = router.on_activity(
        reps,
        later.leads["c1"],
        [],
        kind="lead.rejected",
        rep_id="b",
        event_id="x",
        now=MONDAY_10 + 3700,
        seq=2,
    )
    (r,) = rejected.decisions
    assert (r.decision, r.code, r.rep_id) == ("reassigned", "rejected", "c")
    assert r.due_at is None  # an input made it
    accepted = router.on_activity(
        {**reps, **rejected.reps},
        rejected.leads["c1"],
        [],
        kind="lead.accepted",
        rep_id="c",
        event_id="y",
        now=MONDAY_10 + 3800,
        seq=3,
    )
    assert accepted.leads["c1"].sla_due is None
    assert (
        router.on_time(
            {**reps, **rejected.reps}, accepted.leads, {}, now=MONDAY_10 + 99999, seq=4
        ).decisions
        == []
    )


def test_a_deactivated_rep_never_receives_a_lead() -> None:
    reps = {"a": rep("a", ["erp"], active=False), "b": rep("b", ["erp"], deleted=True)}
    out = signal(reps, None, [], "c1", "erp")
    assert [d.code for d in out.decisions] == ["no_rep_for_product_line"]


def test_the_sla_counts_the_reps_working_hours() -> None:
    tallinn = rep(
        "t",
        ["erp"],
        timezone="Europe/Tallinn",
        working_hours={"mon": [("09:00", "17:00")], "tue": [("09:00", "17:00")]},
    )
    # Monday 16:00 in Tallinn + 4 working hours = Tuesday 12:00 in Tallinn (10:00 UTC)
    monday_4pm = MONDAY_10 + 4 * 3600
    assert tallinn.add_working_time(monday_4pm, 4 * 3600) == MONDAY_10 + 86400
    out = signal({"t": tallinn}, None, [], "c1", "erp", now=monday_4pm)
    assert out.leads["c1"].sla_due == monday_4pm + 3600  # erp SLA 1h, within Monday's hours
    assert (
        rep("x", ["erp"]).add_working_time(MONDAY_10, 60) == MONDAY_10 + 60
    )  # no hours: wall time


def test_per_product_line_model_keeps_one_lead_per_contact_and_line() -> None:
    per_line = Router(
        parse_rules(RULES.replace("routing:", "routing:\n  lead_model: per_product_line")).routing
    )
    reps = {"a": rep("a", ["crm", "erp"])}
    first = per_line.on_sales_ready(
        reps,
        None,
        [],
        signal_id="c1:ready:1",
        contact_id="c1",
        owner_id=None,
        product_line="crm",
        breakdown=[],
        now=MONDAY_10,
        seq=0,
    )
    second = per_line.on_sales_ready(
        {**reps, **first.reps},
        None,
        [],
        signal_id="c1:ready:2",
        contact_id="c1",
        owner_id=None,
        product_line="erp",
        breakdown=[],
        now=MONDAY_10,
        seq=first.seq,
    )
    assert set(first.leads) == {"c1|crm"}
    assert set(second.leads) == {"c1|erp"}
    assert [d.decision for d in first.decisions + second.decisions] == ["assigned", "assigned"]
    assert router.lead_key("c1", "erp") == "c1"  # the single model: one lead per contact
