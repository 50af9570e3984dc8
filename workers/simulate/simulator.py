"""A seeded, reproducible discrete-event simulation of a CRM's event streams. Pure: it makes
(time, topic, key, value) tuples in time order and never touches Kafka.

Time is simulated: processes run on days (about a hundred web forms a day, stage dwell times
of days, a few owner changes a day, one rep away for two days), while the bulk engagement
stream is sized so that `rate` events arrive per wall second at the acceleration `factor`
(simulated seconds per wall second). Same seed, same start, same arguments: same events.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from workers.simulate.weighted import WeightedPicker
from workers.simulate.world import (
    ADVANCE,
    CAMPAIGNS,
    DWELL_DAYS,
    ENGAGEMENTS,
    LEAD_MAGNETS,
    MALFORMED,
    PRODUCT_LINES,
    REPS,
    RESPONSES,
    SLA_HOURS,
    STAGES,
    Contact,
    Opportunity,
    Organization,
    add_working_time,
    deal_amount,
    new_contact,
    new_organization,
    pick,
)

DAY = 86400.0


def steady_occupancy() -> dict[str, float]:
    """The share of open opportunities in each stage once the pipeline is steady: the chance to
    reach the stage times the mean time spent in it."""
    reach, shares = 1.0, {}
    for stage in STAGES[:-1]:
        shares[stage] = reach * DWELL_DAYS[stage]
        reach *= ADVANCE[stage]
    return shares


def _epoch(iso: Any) -> float | None:
    try:
        return dt.datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


Record = tuple[float, str, bytes, bytes]  # (simulated epoch seconds, topic, key, value)


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 7
    rate: float = 60.0  # engagement events per wall second
    factor: float = 8640.0  # simulated seconds per wall second (a day every 10 s)
    forms_per_day: float = 100.0
    owner_changes_per_day: float = 6.0
    malformed_share: float = 0.02
    # a CRM that has been running for a while: about 39 opportunities open a day (forms and
    # demo requests) and live 17 days on average (DWELL_DAYS, ADVANCE), so about 670 are open
    # at any time; starting there, spread over the stages as they would be, the pipeline is in
    # its steady state from the first minute (issue 17: it drifted while 70 grew to 580)
    organizations: int = 150
    contacts: int = 1200
    opportunities: int = 670


class Simulator:
    def __init__(self, config: SimulationConfig, start: dt.datetime) -> None:
        self.c = config
        self.rng = random.Random(config.seed)
        self.start = start.timestamp()
        self.now = self.start
        self.heap: list[tuple[float, int, str, Any]] = []
        self.seq = itertools.count()
        self.n = itertools.count(1)
        self.orgs: list[Organization] = []
        self.contacts: list[Contact] = []
        self.contact_of: dict[str, Contact] = {}
        self.engaging: WeightedPicker[int] = WeightedPicker()  # contact index, by interest
        self.opps: dict[str, Opportunity] = {}
        self.out: list[Record] = []
        self._populate()

    # --- the public face ------------------------------------------------------------------------
    def until(self, t: float) -> list[Record]:
        """Every event due up to simulated time `t`, in time order."""
        while self.heap and self.heap[0][0] <= t:
            at, _, kind, arg = heapq.heappop(self.heap)
            self.now = at
            getattr(self, f"_on_{kind}")(arg)
        out, self.out = self.out, []
        return out

    def assigned(self, decision: dict[str, Any]) -> None:
        """A decision of the router (`crm.lead-assignments`) the team answers, in simulated
        time: accepted within the SLA's working hours and contacted a little later, accepted
        after the SLA ran out (the router reassigns it first), or rejected."""
        rep_id, contact = decision.get("rep_id"), decision.get("contact_id")
        if decision.get("decision") not in ("assigned", "reassigned") or not rep_id or not contact:
            return
        zone = next((r.timezone for r in REPS if r.rep_id == rep_id), "UTC")
        sla = SLA_HOURS.get(decision.get("product_line") or "", 4.0) * 3600
        at = max(self.now, _epoch(decision.get("emitted_at")) or self.now)
        cause = decision.get("assignment_id")
        kind = pick(self.rng, RESPONSES)
        if kind == "reject":
            when = add_working_time(at, self.rng.uniform(0.05, 0.3) * sla, zone)
            self._at(when - self.now, "activity", ("lead.rejected", contact, rep_id, cause))
            return
        share = self.rng.uniform(1.1, 1.8) if kind == "late" else self.rng.uniform(0.05, 0.6)
        accepted = add_working_time(at, share * sla, zone)
        self._at(accepted - self.now, "activity", ("lead.accepted", contact, rep_id, cause))
        contacted = add_working_time(accepted, self.rng.uniform(0.1, 0.5) * sla, zone)
        self._at(contacted - self.now, "activity", ("lead.contacted", contact, rep_id, cause))

    def _on_activity(self, arg: tuple[str, str, str, str | None]) -> None:
        kind, contact, rep_id, cause = arg
        body: dict[str, Any] = {"contact_id": contact, "rep_id": rep_id}
        if cause:
            body["assignment_id"] = cause
        self._emit("crm.rep-activities", contact, kind, **body)

    def __iter__(self) -> Iterator[Record]:  # endless, for tests and offline use
        t = self.start
        while True:
            t += 1.0 / self.c.rate * self.c.factor
            yield from self.until(t)

    # --- scheduling and output ------------------------------------------------------------------
    def _at(self, delay: float, kind: str, arg: Any = None) -> None:
        heapq.heappush(self.heap, (self.now + delay, next(self.seq), kind, arg))

    def _exp(self, per_day: float) -> float:
        return self.rng.expovariate(per_day / DAY)

    def _emit(
        self, topic: str, key: str, event_type: str, at: float | None = None, **body: Any
    ) -> None:
        when = self.now if at is None else at
        if self.rng.random() < self.c.malformed_share:
            bad_topic, value = self.rng.choice(MALFORMED)
            self.out.append((when, bad_topic, key.encode(), value))
        record = {
            "event_id": f"sim-{self.c.seed}-{next(self.n)}",
            "type": event_type,
            "occurred_at": dt.datetime.fromtimestamp(when, dt.UTC).isoformat(),
            **body,
        }
        # a copy of its own size: orjson's bytes keep the whole buffer it wrote into (4 KiB for
        # a 300-byte event), which a caller holding a month of history (4.8M events) pays 20 GB
        value = bytes(memoryview(orjson.dumps(record)))
        self.out.append((when, topic, key.encode(), value))

    # --- the starting population: a CRM that was already running ----------------------------
    def _populate(self) -> None:
        c, rng = self.c, self.rng
        away = self.start + 2 * DAY
        for i, rep in enumerate(REPS):
            absent = None
            if i == 2:  # one rep is away for two days from the third day on
                absent = (dt.datetime.fromtimestamp(away, dt.UTC),
                          dt.datetime.fromtimestamp(away + 2 * DAY, dt.UTC))  # fmt: skip
            self._emit("crm.reps", rep.rep_id, "rep.upserted", **rep.event(absent))
        for _ in range(c.organizations):
            self._add_org()
        for _ in range(c.contacts):
            self._add_contact()
        occupancy = steady_occupancy()
        for contact in rng.sample(self.contacts, min(c.opportunities, len(self.contacts))):
            stage = rng.choices(list(occupancy), list(occupancy.values()))[0]
            self._open(contact, stage, entered_days_ago=rng.expovariate(1 / DWELL_DAYS[stage]))
        self._at(self._exp(c.forms_per_day), "form")
        self._at(self._exp(c.owner_changes_per_day), "owner_change")
        self._at(rng.expovariate(c.rate / c.factor), "engagement")
        self._at(self._exp(2.0), "org_update")

    def _add_org(self) -> Organization:
        org = new_organization(self.rng, len(self.orgs) + 1)
        self.orgs.append(org)
        self._emit("crm.organizations", org.organization_id, "organization.upserted",
                   organization_id=org.organization_id, fields=org.fields)  # fmt: skip
        return org

    def _add_contact(self) -> Contact:
        rng = self.rng
        org = rng.choice(self.orgs) if self.orgs and rng.random() < 0.8 else None
        owner = rng.choice(REPS).rep_id if rng.random() < 0.35 else None
        contact = new_contact(rng, len(self.contacts) + 1, org, owner)
        self.engaging.add(len(self.contacts), contact.interest)
        self.contacts.append(contact)
        self.contact_of[contact.contact_id] = contact
        self._upsert(contact)
        return contact

    def _upsert(self, contact: Contact) -> None:
        self._emit("crm.contacts", contact.contact_id, "contact.upserted",
                   contact_id=contact.contact_id, organization_id=contact.organization_id,
                   owner_id=contact.owner_id, fields=contact.fields)  # fmt: skip

    # --- processes --------------------------------------------------------------------------
    def _on_form(self, _: Any) -> None:
        rng = self.rng
        if rng.random() < 0.7:
            contact = self._add_contact()
            index = len(self.contacts) - 1
        else:
            index = rng.randrange(len(self.contacts))  # as rng.choice draws it
            contact = self.contacts[index]
        form_id, source, line = rng.choice(LEAD_MAGNETS)
        contact.product_line = line or contact.product_line
        contact.interest *= 1.5
        self.engaging.set(index, contact.interest)
        self._emit("crm.form-submissions", contact.contact_id, "form.submitted",
                   contact_id=contact.contact_id, form_id=form_id, source=source,
                   product_line=line, fields={"consent": True})  # fmt: skip
        if contact.opportunity_id is None and rng.random() < 0.25:
            self._open(contact, "contact")
        self._at(self._exp(self.c.forms_per_day), "form")

    def _on_engagement(self, _: Any) -> None:
        rng = self.rng
        contact = self.contacts[self.engaging.pick(rng)]
        kind = pick(rng, ENGAGEMENTS)
        body: dict[str, Any] = {"contact_id": contact.contact_id, "kind": kind}
        line = contact.product_line or rng.choice(PRODUCT_LINES)
        if kind in ("demo_request", "quote_request", "sample_order", "trial_completed"):
            body["product_line"] = line
            contact.product_line = line
        if kind in ("email_open", "email_click", "email_reply"):
            body["campaign_id"] = rng.choice(CAMPAIGNS)
        if kind == "email_reply" and contact.owner_id and rng.random() < 0.3:
            body["rep_id"] = contact.owner_id
        self._emit("crm.engagements", contact.contact_id, "engagement.recorded", **body)
        if kind == "demo_request" and contact.opportunity_id is None:
            self._open(contact, "qualification")
        self._at(rng.expovariate(self.c.rate / self.c.factor), "engagement")

    def _on_owner_change(self, _: Any) -> None:
        contact = self.rng.choice(self.contacts)
        others = [r.rep_id for r in REPS if r.rep_id != contact.owner_id]
        contact.owner_id = self.rng.choice(others)
        self._upsert(contact)
        self._at(self._exp(self.c.owner_changes_per_day), "owner_change")

    def _on_org_update(self, _: Any) -> None:
        org = self.rng.choice(self.orgs)
        org.fields = {**org.fields, "employees": max(2, int(org.fields["employees"] * 1.2) + 1)}
        self._emit("crm.organizations", org.organization_id, "organization.upserted",
                   organization_id=org.organization_id, fields=org.fields)  # fmt: skip
        self._at(self._exp(2.0), "org_update")

    # --- the pipeline -----------------------------------------------------------------------
    def _open(self, contact: Contact, stage: str, entered_days_ago: float = 0.0) -> None:
        line = contact.product_line or self.rng.choice(PRODUCT_LINES)
        opp = Opportunity(f"o-{len(self.opps) + 1}", contact.contact_id, line,
                          deal_amount(self.rng, line), stage, contact.owner_id)  # fmt: skip
        self.opps[opp.opportunity_id] = opp
        contact.opportunity_id = opp.opportunity_id
        at = self.now - entered_days_ago * DAY
        self._opp_event(opp, "opportunity.upserted", "open", at)
        self._at(self._dwell(stage), "stage", opp.opportunity_id)  # memoryless: as long again

    def _dwell(self, stage: str) -> float:
        return self.rng.expovariate(1.0 / (DWELL_DAYS[stage] * DAY))

    def _on_stage(self, opp_id: str) -> None:
        opp = self.opps[opp_id]
        if opp.stage == "retention":
            return
        if self.rng.random() > ADVANCE[opp.stage]:
            self._opp_event(opp, "opportunity.closed", "lost")
            self._close(opp)
            return
        opp.stage = STAGES[STAGES.index(opp.stage) + 1]
        if opp.stage == "retention":
            self._opp_event(opp, "opportunity.closed", "won")
            self._close(opp)
            return
        self._opp_event(opp, "opportunity.stage_changed", "open")
        self._at(self._dwell(opp.stage), "stage", opp_id)

    def _close(self, opp: Opportunity) -> None:
        contact = self.contact_of[opp.contact_id]
        if contact.opportunity_id == opp.opportunity_id:
            contact.opportunity_id = None

    def _opp_event(
        self, opp: Opportunity, event_type: str, status: str, at: float | None = None
    ) -> None:
        self._emit("crm.opportunities", opp.opportunity_id, event_type, at,
                   opportunity_id=opp.opportunity_id, contact_id=opp.contact_id,
                   pipeline_id="sales", stage_id=opp.stage, status=status,
                   owner_id=opp.owner_id, amount=opp.amount, currency="EUR",
                   product_line=opp.product_line)  # fmt: skip
