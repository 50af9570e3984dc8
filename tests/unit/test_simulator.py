"""`dealstream simulate` (issue 9): seeded and reproducible, valid contract events (but for the
configured share of malformed ones), every process of a running CRM present."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import orjson

from schemas.catalog import INPUT_TOPICS
from workers.ingest.decoder import Decoder
from workers.ingest.errors import Rejection
from workers.simulate.simulator import DAY, SimulationConfig, Simulator

START = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
DECODERS = {spec.name: Decoder(spec, 1_000_000) for spec in INPUT_TOPICS}


def run(days: float, **kw: float) -> list[tuple[float, str, bytes, bytes]]:
    sim = Simulator(SimulationConfig(**kw), START)  # type: ignore[arg-type]
    return sim.until(START.timestamp() + days * DAY)


def test_same_seed_same_events_other_seed_other_events() -> None:
    assert run(2) == run(2)
    assert run(2) != run(2, seed=8)


def test_events_are_valid_and_in_time_order_but_for_the_malformed_share() -> None:
    records = run(5)
    times = [t for t, *_ in records if t > START.timestamp()]  # after the starting population
    assert times == sorted(times)
    bad = [r for r in records if isinstance(DECODERS[r[1]].decode(r[2], r[3]), Rejection)]
    share = len(bad) / len(records)
    assert 0.005 < share < 0.05, share


def test_a_running_crm_is_in_it() -> None:
    records = run(10)
    by_type: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    forms: Counter[str] = Counter()
    absent = 0
    for _, topic, _key, value in records:
        try:
            body = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(body, dict) or "type" not in body:
            continue
        by_type[body["type"]] += 1
        if topic == "crm.opportunities" and "stage_id" in body:
            stages[body["stage_id"]] += 1
            if body.get("status") in ("won", "lost"):
                outcomes[body["status"]] += 1
        if body["type"] == "engagement.recorded" and "kind" in body:
            kinds[body["kind"]] += 1
        if body["type"] == "form.submitted":
            forms[body.get("source", "")] += 1
        if body["type"] == "rep.upserted" and body.get("out_of_office"):
            absent += 1
    for t in ("contact.upserted", "organization.upserted", "form.submitted",
              "engagement.recorded", "opportunity.upserted", "opportunity.stage_changed",
              "opportunity.closed", "rep.upserted"):  # fmt: skip
        assert by_type[t] > 0, t
    assert set(stages) == {
        "contact",
        "qualification",
        "meeting",
        "proposal",
        "closing",
        "retention",
    }
    assert outcomes["won"] > 0
    assert outcomes["lost"] > 0
    assert {"demo_request", "quote_request", "email_reply", "email_open"} <= set(kinds)
    assert len(forms) >= 4  # several lead magnets
    assert 60 < by_type["form.submitted"] / 10 < 150  # about a hundred a day
    assert absent == 1  # one rep has an absence


def test_the_engagement_stream_follows_the_rate_at_the_factor() -> None:
    # 60 engagements per wall second at 8640x: a simulated day (10 wall seconds) has about 600
    records = run(3, rate=60.0, factor=8640.0)
    engagements = [r for r in records if r[1] == "crm.engagements" and r[0] > START.timestamp()]
    per_day = len(engagements) / 3
    assert 450 < per_day < 750, per_day
