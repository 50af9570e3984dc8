"""The simulated CRM's population: distributions for organizations, contacts, reps, lead
magnets and the six-stage pipeline (sources 002, 003, 004). Pure data and a seeded RNG."""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

PRODUCT_LINES = ("crm", "erp", "analytics")
STAGES = ("contact", "qualification", "meeting", "proposal", "closing", "retention")
# mean days in each open stage, and the chance to move on (else the deal is lost)
DWELL_DAYS = {
    "contact": 3.0,
    "qualification": 6.0,
    "meeting": 5.0,
    "proposal": 11.0,
    "closing": 5.0,
}
ADVANCE = {"contact": 0.85, "qualification": 0.7, "meeting": 0.75, "proposal": 0.6, "closing": 0.8}
INDUSTRIES = (
    ("manufacturing", 0.24),
    ("retail", 0.18),
    ("software", 0.2),
    ("healthcare", 0.14),
    ("logistics", 0.12),
    ("education", 0.12),
)
CITIES = (
    ("Greenville", 0.22),
    ("Bucharest", 0.2),
    ("Sofia", 0.14),
    ("Tallinn", 0.12),
    ("Milano", 0.16),
    ("Tartu", 0.08),
    ("Cluj", 0.08),
)
STATUSES = (("Hot", 0.15), ("Warm", 0.45), ("Cold", 0.4))
TITLES = (("CEO", 0.06), ("CTO", 0.05), ("Head of Sales", 0.09), ("Director", 0.1),
          ("Manager", 0.3), ("Analyst", 0.25), ("Founder", 0.05), ("Engineer", 0.1))  # fmt: skip
# web forms: (form id, lead magnet, product line); about a hundred a day (source 002)
LEAD_MAGNETS = (
    ("crm-ebook", "ebook", "crm"),
    ("erp-webinar", "webinar", "erp"),
    ("roi-calculator", "calculator", "analytics"),
    ("price-list", "price_list", None),
    ("newsletter", "newsletter", None),
)
# engagement kinds and their shares of the engagement stream
ENGAGEMENTS = (
    ("email_open", 0.36),
    ("page_view", 0.28),
    ("email_click", 0.14),
    ("list_signup", 0.03),
    ("demo_request", 0.05),
    ("quote_request", 0.035),
    ("sample_order", 0.015),
    ("trial_completed", 0.012),
    ("email_reply", 0.03),
)
CAMPAIGNS = ("spring-offer", "erp-launch", "analytics-trial", "newsletter-weekly")
MALFORMED: tuple[tuple[str, bytes], ...] = (
    ("crm.contacts", b"{not json"),
    ("crm.contacts", b'{"event_id":"bad-ts","type":"contact.upserted","occurred_at":"yesterday"}'),
    ("crm.engagements", b'{"event_id":"bad-type","type":"engagement.exploded"}'),
    ("crm.opportunities", b"[1,2,3]"),
    ("crm.form-submissions", b"\xff\xfe\x00"),
    (
        "crm.engagements",
        b'{"event_id":"no-kind","type":"engagement.recorded","occurred_at":'
        b'"2026-11-23T09:00:00Z","contact_id":"c-1"}',
    ),
)


def pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


@dataclass
class Rep:
    rep_id: str
    product_lines: list[str]
    timezone: str
    weight: float = 1.0

    def event(self, absent: tuple[dt.datetime, dt.datetime] | None = None) -> dict[str, Any]:
        hours = [{"start": "08:00", "end": "18:00"}]
        body: dict[str, Any] = {
            "rep_id": self.rep_id,
            "product_lines": self.product_lines,
            "active": True,
            "timezone": self.timezone,
            "working_hours": {d: hours for d in ("mon", "tue", "wed", "thu", "fri")},
            "capacity": {"per_day": 12, "open_leads": 40},
            "weight": self.weight,
        }
        if absent is not None:
            body["out_of_office"] = [{"start": absent[0].isoformat(), "end": absent[1].isoformat()}]
        return body


# How the team answers an assignment (issue 17): most leads accepted well within the SLA in
# working hours and contacted soon after, some accepted late (the router has reassigned them
# by then), a few rejected. SLA per product line as in workers/rules/default_rules.yaml.
SLA_HOURS = {"crm": 4.0, "erp": 8.0, "analytics": 24.0}
RESPONSES = (("accept", 0.85), ("late", 0.10), ("reject", 0.05))
WORK_START, WORK_END = 8, 18  # the reps' local working hours, Monday to Friday


def add_working_time(start: float, seconds: float, zone: str) -> float:
    """The instant `seconds` of working hours (08–18, Mon–Fri, local) after `start`."""
    tz = ZoneInfo(zone)
    at = dt.datetime.fromtimestamp(start, tz)
    remaining = seconds
    for _ in range(400):
        day_start = at.replace(hour=WORK_START, minute=0, second=0, microsecond=0)
        day_end = at.replace(hour=WORK_END, minute=0, second=0, microsecond=0)
        if at.weekday() < 5 and at < day_end:
            lo = max(at, day_start)
            if remaining <= (day_end - lo).total_seconds():
                return (lo + dt.timedelta(seconds=remaining)).timestamp()
            remaining -= (day_end - lo).total_seconds()
        at = (at + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return start + seconds


REPS = (
    Rep("rep-ana", ["crm"], "Europe/Bucharest"),
    Rep("rep-bo", ["crm", "analytics"], "Europe/Tallinn"),
    Rep("rep-cara", ["erp"], "Europe/Sofia", 2.0),
    Rep("rep-dan", ["erp"], "Europe/Rome"),
    Rep("rep-eli", ["analytics"], "Europe/Bucharest", 1.5),
    Rep("rep-finn", ["analytics", "crm"], "Europe/Tallinn"),
)


@dataclass
class Organization:
    organization_id: str
    fields: dict[str, Any]


@dataclass
class Contact:
    contact_id: str
    organization_id: str | None
    owner_id: str | None
    fields: dict[str, Any]
    interest: float  # how often it engages, relative to others
    product_line: str | None = None
    opportunity_id: str | None = None  # its open opportunity, if any


@dataclass
class Opportunity:
    opportunity_id: str
    contact_id: str
    product_line: str
    amount: float
    stage: str = "contact"
    owner_id: str | None = None
    history: list[str] = field(default_factory=list)


def new_organization(rng: random.Random, n: int) -> Organization:
    employees = max(2, round(math.exp(rng.gauss(4.0, 1.3))))
    return Organization(
        f"org-{n}",
        {"industry": pick(rng, INDUSTRIES), "employees": employees, "city": pick(rng, CITIES)},
    )


def new_contact(rng: random.Random, n: int, org: Organization | None, owner: str | None) -> Contact:
    fields: dict[str, Any] = {
        "gender": rng.choice(("female", "male")),
        "age": max(18, min(75, round(rng.gauss(40, 11)))),
        "city": org.fields["city"] if org and rng.random() < 0.7 else pick(rng, CITIES),
        "lead_status": pick(rng, STATUSES),
        "title": pick(rng, TITLES),
    }
    interest = rng.lognormvariate(0.0, 0.9)
    return Contact(f"c-{n}", org.organization_id if org else None, owner, fields, interest)


def deal_amount(rng: random.Random, product_line: str) -> float:
    base = {"crm": 4000.0, "erp": 18000.0, "analytics": 7000.0}[product_line]
    return float(round(base * rng.lognormvariate(0.0, 0.5), -2))
