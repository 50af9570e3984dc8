"""Demo traffic: a seeded mix of valid contract events and a small share of malformed ones."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import orjson

CITIES = ["Greenville", "Tallinn", "Sofia", "Milano", "Bucharest", "Tartu"]
STATUSES = ["Hot", "Warm", "Cold"]
KINDS = ["email_open", "email_click", "page_view", "demo_request", "quote_request", "list_signup"]
MALFORMED: list[tuple[str, bytes]] = [
    ("crm.contacts", b"{not json"),
    ("crm.contacts", b'{"event_id":"m1","type":"contact.upserted","occurred_at":"yesterday"}'),
    ("crm.engagements", b'{"event_id":"m2","type":"engagement.exploded"}'),
    ("crm.opportunities", b"[1,2,3]"),
    ("crm.contacts", b"\xff\xfe\x00"),
]

Record = tuple[str, bytes | None, bytes]


def demo_events(seed: int, now: dt.datetime) -> Iterator[Record]:
    """An endless, reproducible stream of (topic, key, value)."""
    rng = random.Random(seed)
    n = 0
    while True:
        n += 1
        at = (now + dt.timedelta(seconds=n)).isoformat()
        contact = f"c-{rng.randint(1, 200)}"
        roll = rng.random()
        if roll < 0.04:
            topic, value = rng.choice(MALFORMED)
            yield topic, contact.encode(), value
        elif roll < 0.35:
            fields = {
                "city": rng.choice(CITIES),
                "age": rng.randint(18, 70),
                "lead_status": rng.choice(STATUSES),
            }
            yield _event(
                "crm.contacts",
                contact,
                "contact.upserted",
                at,
                n,
                contact_id=contact,
                owner_id=f"rep-{rng.randint(1, 5)}",
                fields=fields,
            )
        elif roll < 0.85:
            yield _event(
                "crm.engagements",
                contact,
                "engagement.recorded",
                at,
                n,
                contact_id=contact,
                kind=rng.choice(KINDS),
            )
        else:
            opp = f"o-{rng.randint(1, 80)}"
            stage = rng.choice(["contact", "qualification", "meeting", "proposal", "closing"])
            yield _event(
                "crm.opportunities",
                opp,
                "opportunity.upserted",
                at,
                n,
                opportunity_id=opp,
                contact_id=contact,
                pipeline_id="sales",
                stage_id=stage,
                status="open",
                amount=float(rng.randint(5, 200) * 100),
            )


def _event(topic: str, key: str, event_type: str, at: str, n: int, **fields: object) -> Record:
    body = {"event_id": f"demo-{n}", "type": event_type, "occurred_at": at, **fields}
    return topic, key.encode(), orjson.dumps(body)
