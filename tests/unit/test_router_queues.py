"""Queues never jam (issue 14.1): a lead every rep passed over starts a new round or goes to
the line's manager, no queued lead blocks the ones behind it, and the reason is the truth."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from workers.routing.leads import Lead, Outcome
from workers.routing.roster import Rep
from workers.routing.router import Router
from workers.rules.loader import parse_rules

MONDAY_10 = 1793613600.0  # 2026-11-02 10:00 UTC, a Monday
HOURS = {d: [("09:00", "17:00")] for d in ("mon", "tue", "wed", "thu", "fri")}


def make_router(all_passed: str = "reset", escalate_to: str | None = None) -> Router:
    extra = f", escalate_to: {escalate_to}" if escalate_to else ""
    rules = parse_rules(
        f"""
version: r
routing:
  product_lines:
    erp: {{policy: round_robin, sla: 1h, all_passed: {all_passed}{extra}}}
    crm: {{policy: load_balanced, sla: 2h}}
"""
    )
    return Router(rules.routing)


@dataclass
class World:
    """The router's state as its agent keeps it: outcomes merged in."""

    router: Router
    reps: dict[str, Rep]
    leads: dict[str, Lead] = field(default_factory=dict)
    queues: dict[str, list[str]] = field(default_factory=dict)
    seq: int = 0
    decisions: list[tuple[str, str, str | None, str, str]] = field(default_factory=list)

    def merge(self, out: Outcome) -> Outcome:
        self.seq = max(self.seq, out.seq)
        self.reps.update(out.reps)
        self.leads.update(out.leads)
        self.queues.update(out.queues)
        self.decisions += [
            (d.contact_id, d.decision, d.rep_id, d.code, d.assignment_id) for d in out.decisions
        ]
        assert all(d.event_id for d in out.decisions)  # every decision names its cause
        return out

    def signal(self, contact: str, pl: str, now: float, n: int = 1) -> Outcome:
        key = self.router.lead_key(contact, pl)
        return self.merge(
            self.router.on_sales_ready(
                self.reps, self.leads.get(key), self.queues.get(pl, []),
                signal_id=f"{contact}:ready:{n}", contact_id=contact, owner_id=None,
                product_line=pl, breakdown=[], now=now, seq=self.seq,
            )
        )  # fmt: skip

    def act(self, contact: str, kind: str, now: float, event_id: str) -> Outcome:
        lead = self.leads[contact]
        return self.merge(
            self.router.on_activity(
                self.reps, lead, self.queues.get(lead.product_line, []), kind=kind,
                rep_id=lead.rep_id or "", event_id=event_id, now=now, seq=self.seq,
            )
        )  # fmt: skip

    def tick(self, now: float) -> Outcome:
        out = self.router.on_time(self.reps, self.leads, self.queues, now=now, seq=self.seq)
        # a line no rep can take is not asked again for each queued lead: same outcome
        reference = Router(self.router.rules)
        reference.skip_blocked = False
        assert out == reference.on_time(self.reps, self.leads, self.queues, now=now, seq=self.seq)
        return self.merge(out)


def erp_pair(**kw: object) -> dict[str, Rep]:
    return {r: Rep(rep_id=r, product_lines=["erp"], **kw) for r in ("a", "b")}  # type: ignore[arg-type]


def test_a_lead_both_reps_let_expire_starts_a_new_round_with_a_truthful_code() -> None:
    w = World(make_router(), erp_pair())
    w.signal("c1", "erp", MONDAY_10)
    w.tick(MONDAY_10 + 3601)  # a lets the SLA pass: to b
    last = w.tick(MONDAY_10 + 2 * 3601)  # b too: every rep passed over it
    (d,) = last.decisions
    assert (d.decision, d.code, d.rep_id) == ("reassigned", "all_reps_passed", "a")
    assert "round 2" in d.text
    assert w.leads["c1"].excluded == []
    assert w.leads["c1"].round == 2
    assert w.queues.get("erp", []) == []


def test_escalate_gives_it_to_the_lines_manager_without_an_sla() -> None:
    reps = {**erp_pair(), "boss": Rep(rep_id="boss", product_lines=[])}
    w = World(make_router("escalate", "boss"), reps)
    w.signal("c1", "erp", MONDAY_10)
    w.act("c1", "lead.rejected", MONDAY_10 + 60, "x1")  # a rejects: to b
    last = w.act("c1", "lead.rejected", MONDAY_10 + 120, "x2")  # b too: to the manager
    (d,) = last.decisions
    assert (d.decision, d.code, d.rep_id) == ("reassigned", "all_reps_passed", "boss")
    assert w.leads["c1"].sla_due is None
    assert w.tick(MONDAY_10 + 86400).decisions == []  # nothing expires on the manager


def test_escalation_to_an_absent_manager_waits_and_is_retried_every_tick() -> None:
    w = World(make_router("escalate", "boss"), erp_pair())
    w.signal("c1", "erp", MONDAY_10)
    w.act("c1", "lead.rejected", MONDAY_10 + 60, "x1")
    last = w.act("c1", "lead.rejected", MONDAY_10 + 120, "x2")
    (d,) = last.decisions
    assert (d.decision, d.code) == ("queued", "all_reps_passed")
    assert "boss is not active" in d.text
    w.reps["boss"] = Rep(rep_id="boss")
    (released,) = w.tick(MONDAY_10 + 180).decisions
    assert (released.rep_id, released.code) == ("boss", "all_reps_passed")


def test_a_lead_nobody_can_take_does_not_block_the_ones_behind_it() -> None:
    # c1 excluded a and b (escalation to nobody): it waits, c2 behind it is released.
    w = World(make_router("escalate", "nobody"), erp_pair(per_day=1))
    w.signal("c1", "erp", MONDAY_10)
    w.act("c1", "lead.rejected", MONDAY_10 + 60, "x1")
    w.act("c1", "lead.rejected", MONDAY_10 + 120, "x2")
    assert w.leads["c1"].status == "queued"
    queued = w.signal("c2", "erp", MONDAY_10 + 180)  # both reps at their daily cap
    assert [d.code for d in queued.decisions] == ["all_at_capacity"]
    assert w.queues["erp"] == ["c1", "c2"]
    next_day = w.tick(MONDAY_10 + 86400)
    assert [(d.contact_id, d.decision) for d in next_day.decisions] == [("c2", "assigned")]
    assert w.queues["erp"] == ["c1"]


def test_two_sla_expiries_of_one_line_in_one_tick_both_stay_queued() -> None:
    w = World(make_router(), erp_pair(per_day=1))
    w.signal("c1", "erp", MONDAY_10)
    w.signal("c2", "erp", MONDAY_10)
    assert {w.leads["c1"].rep_id, w.leads["c2"].rep_id} == {"a", "b"}
    dues = {c: w.leads[c].sla_due for c in ("c1", "c2")}
    expired = w.tick(MONDAY_10 + 3601)  # both expire; each rep is at its cap for the day
    assert sorted(w.queues["erp"]) == ["c1", "c2"]
    # queued again, each naming when its SLA expired
    assert {d.contact_id: (d.decision, d.due_at) for d in expired.decisions} == {
        c: ("queued", due) for c, due in dues.items()
    }
    w.tick(MONDAY_10 + 86400)
    assert w.queues["erp"] == []
    assert {w.leads[c].status for c in ("c1", "c2")} == {"assigned"}


# --- properties --------------------------------------------------------------------------

rep_strategy = st.builds(
    dict,
    lines=st.sets(st.sampled_from(["erp", "crm"]), max_size=2),
    hours=st.booleans(),
    per_day=st.none() | st.integers(1, 3),
    active=st.booleans(),
)
op = st.one_of(
    st.tuples(st.just("signal"), st.integers(0, 7), st.sampled_from(["erp", "crm", "general"])),
    st.tuples(st.just("act"), st.integers(0, 7), st.sampled_from(["lead.accepted", "lead.contacted", "lead.rejected"])),
    st.tuples(st.just("wait"), st.sampled_from([60, 1800, 3601, 7300, 6 * 3600, 86400])),
    st.tuples(st.just("toggle"), st.integers(0, 3)),
)  # fmt: skip


def build(specs: list[dict[str, object]]) -> dict[str, Rep]:
    return {
        f"r{i}": Rep(
            rep_id=f"r{i}",
            product_lines=sorted(s["lines"]),  # type: ignore[call-overload]
            working_hours=HOURS if s["hours"] else None,
            per_day=s["per_day"],  # type: ignore[arg-type]
            active=bool(s["active"]),
        )
        for i, s in enumerate(specs)
    }


@given(
    specs=st.lists(rep_strategy, min_size=1, max_size=4),
    ops=st.lists(op, max_size=40),
    policy=st.sampled_from(["reset", "escalate"]),
)
def test_after_every_tick_no_queued_lead_has_an_eligible_rep(
    specs: list[dict[str, object]], ops: list[tuple[object, ...]], policy: str
) -> None:
    """Whenever some rep is eligible for a queued lead, that lead or an older one for the same
    rep is released on the next tick: after a tick, no queued lead has an eligible rep; and
    every queued lead is in its line's queue (none is lost from it)."""
    w = World(make_router(policy, "r0" if policy == "escalate" else None), build(specs))
    now = MONDAY_10
    for i, step in enumerate(ops):
        kind = step[0]
        if kind == "signal":
            w.signal(f"c{step[1]}", str(step[2]), now, n=i)
        elif kind == "act":
            contact = f"c{step[1]}"
            if contact in w.leads and w.leads[contact].status in ("assigned", "accepted"):
                w.act(contact, str(step[2]), now, f"e{i}")
        elif kind == "wait":
            now += float(step[1])  # type: ignore[arg-type]
        else:
            rep_id = f"r{step[1]}"
            if rep_id in w.reps:
                rep = w.reps[rep_id]
                w.reps[rep_id] = Rep(**{**_fields(rep), "active": not rep.active})
        w.tick(now)
        for lead in w.leads.values():
            if lead.status == "queued":
                assert lead.key in w.queues.get(lead.product_line, []), lead
                _, choice = w.router.resolve(w.reps, lead, now)
                assert choice.rep_id is None, (lead, choice)
        for pl, queue in w.queues.items():
            assert len(queue) == len(set(queue)), (pl, queue)
            assert all(w.leads[k].status == "queued" for k in queue)
            assert all(w.leads[k].product_line == pl for k in queue)


def _fields(rep: Rep) -> dict[str, object]:
    return {name: getattr(rep, name) for name in rep.__struct_fields__}


@given(
    reps=st.integers(1, 4),
    cap=st.integers(1, 5),
    days=st.integers(1, 6),
    late=st.lists(st.booleans(), min_size=1, max_size=50),
)
def test_queue_depth_stays_bounded_when_reps_act(
    reps: int, cap: int, days: int, late: list[bool]
) -> None:
    """Reps who accept their leads (some let the SLA pass) with a day's capacity of
    reps × cap and as many new leads a day: at the start of each day the queue holds no more
    leads than the SLAs let pass so far (the demand beyond capacity), and none when nobody
    was late."""
    team = {f"r{i}": Rep(rep_id=f"r{i}", product_lines=["erp"], per_day=cap) for i in range(reps)}
    w = World(make_router(), team)
    n = 0
    for day in range(days):
        start = MONDAY_10 + day * 86400
        w.tick(start)
        expired = sum(1 for d in w.decisions if ":sla:" in d[4])
        assert len(w.queues.get("erp", [])) <= expired, (day, w.queues, w.decisions)
        for j in range(reps * cap):
            contact = f"c{n}"
            n += 1
            w.signal(contact, "erp", start + j)
            if w.leads[contact].status == "assigned" and not late[n % len(late)]:
                w.act(contact, "lead.accepted", start + j + 1, f"a{n}")
        w.tick(start + 4 * 3600)  # the late ones' SLAs pass


def test_a_contacted_lead_no_longer_counts_against_open_leads() -> None:
    """Issue 17: open leads only grew (contacted leads stayed open), so every rep reached
    `capacity.open_leads` and the demo's queues never drained. A lead the rep contacted is
    worked: it leaves the rep's open leads once, however often the CRM says so."""
    w = World(make_router(), {"a": Rep(rep_id="a", product_lines=["erp"], open_limit=2)})
    w.signal("c1", "erp", MONDAY_10)
    w.signal("c2", "erp", MONDAY_10 + 1)
    w.signal("c3", "erp", MONDAY_10 + 2)
    assert [w.leads[c].status for c in ("c1", "c2", "c3")] == ["assigned", "assigned", "queued"]
    w.act("c1", "lead.accepted", MONDAY_10 + 10, "a1")
    assert w.reps["a"].open_leads == 2  # accepted, still open
    w.act("c1", "lead.contacted", MONDAY_10 + 20, "k1")
    w.act("c1", "lead.contacted", MONDAY_10 + 30, "k1b")  # said twice: released once
    assert w.reps["a"].open_leads == 1
    w.tick(MONDAY_10 + 40)
    assert w.leads["c3"].status == "assigned"  # the room it left goes to the queue
    assert w.reps["a"].open_leads == 2
