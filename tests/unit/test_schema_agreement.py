"""The schema files and the typed records agree: same fields, same required set, and the same
verdict on valid examples and on thousands of mutations of them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from schemas import records as r
from schemas.catalog import INPUT_TOPICS, OUTPUT_TOPICS, InputTopic, schema_path
from workers.ingest.decoder import Decoder
from workers.ingest.errors import Rejection

INPUT_CASES = [(t, rec) for t in INPUT_TOPICS for rec in t.records]


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_path(name).read_text())
    Draft202012Validator.check_schema(schema)
    return schema


def tag(record: type[r.InputEvent]) -> str:
    return str(record.__struct_config__.tag)


def required_fields(record: type[msgspec.Struct]) -> set[str]:
    return {f.name for f in msgspec.structs.fields(record) if f.required}


def test_every_event_type_and_output_has_a_schema_file_and_no_file_is_orphaned() -> None:
    expected = {schema_path(tag(rec)).name for _, rec in INPUT_CASES}
    expected |= {schema_path(t.schema_name).name for t in OUTPUT_TOPICS}
    on_disk = {p.name for p in schema_path("x").parent.glob("*.v1.json")}
    assert on_disk == expected


@pytest.mark.parametrize(("topic", "record"), INPUT_CASES, ids=lambda c: getattr(c, "name", ""))
def test_input_record_fields_match_schema(topic: InputTopic, record: type[r.InputEvent]) -> None:
    schema = load(tag(record))
    fields = {f.name for f in msgspec.structs.fields(record)}
    assert set(schema["properties"]) == fields | {"type"}
    assert set(schema["required"]) == required_fields(record) | {"type"}
    assert schema["properties"]["type"] == {"const": tag(record)}
    assert topic.key_field in schema["required"]


@pytest.mark.parametrize("topic", OUTPUT_TOPICS, ids=lambda t: t.name)
def test_output_record_fields_match_schema(topic: Any) -> None:
    schema = load(topic.schema_name)
    fields = {f.name for f in msgspec.structs.fields(topic.record)}
    assert set(schema["properties"]) == fields
    assert set(schema["required"]) == required_fields(topic.record)


NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
OUTPUT_SAMPLES: list[msgspec.Struct] = [
    r.DeadLetter(
        emitted_at=NOW,
        event_id=None,
        topic="crm.contacts",
        partition=0,
        offset=3,
        key=None,
        value="e30=",
        error=r.DeadLetterError("invalid_json", "bad", None),
    ),
    r.TriggerFiring(
        emitted_at=NOW,
        event_id="e1",
        firing_id="f1",
        trigger_id="t1",
        opportunity_id="o1",
        contact_id="c1",
        pipeline_id="p",
        stage_id="s",
        period=2,
        due_at=NOW,
        fired_at=NOW,
        action={"type": "enroll_campaign", "campaign_id": "reminder"},
    ),
    r.LeadScore(
        emitted_at=NOW,
        event_id="e1",
        contact_id="c1",
        fit=10,
        engagement=5.5,
        total=15.5,
        stars=3,
        sales_ready=False,
        breakdown=[r.ScoreContribution("city", 10.0)],
        rules_version="1",
    ),
    r.LeadAssignment(
        emitted_at=NOW,
        event_id="e1",
        assignment_id="a1",
        contact_id="c1",
        product_line="crm",
        rep_id=None,
        decision="queued",
        reason=r.Reason("all_at_capacity", "every rep is full"),
        candidates=["rep-1"],
    ),
    r.LeadAssignment(
        emitted_at=NOW,
        event_id="e1",
        assignment_id="a1:sla:1",
        contact_id="c1",
        product_line="crm",
        rep_id="rep-2",
        decision="reassigned",
        reason=r.Reason("sla_expired", "rep-1 let the SLA pass"),
        due_at=NOW,
    ),
    r.OwnerChange(
        emitted_at=NOW,
        event_id="e1",
        opportunity_id="o1",
        contact_id="c1",
        old_owner_id=None,
        new_owner_id="rep-2",
        reason="contact_owner_changed",
    ),
    r.StageMove(
        emitted_at=NOW,
        event_id="e1",
        move_id="m1",
        opportunity_id="o1",
        contact_id="c1",
        pipeline_id="p",
        from_stage_id="a",
        to_stage_id="b",
        rule_id="demo",
        cause={"event_id": "e9"},
    ),
    r.RepNotification(
        emitted_at=NOW,
        event_id="e1",
        notification_id="n1",
        rep_id="rep-1",
        contact_id="c1",
        kind="reply_received",
        context={"campaign_id": "x"},
    ),
]


@pytest.mark.parametrize("sample", OUTPUT_SAMPLES, ids=lambda s: type(s).__name__)
def test_encoded_outputs_validate_against_their_schema(sample: msgspec.Struct) -> None:
    topic = next(t for t in OUTPUT_TOPICS if t.record is type(sample))
    Draft202012Validator(load(topic.schema_name)).validate(
        orjson.loads(msgspec.json.encode(sample))
    )


# Values a mutation may put in a field. Integral floats are left out on purpose: JSON Schema
# counts 1.0 as an integer, the decoder wants the integer literal; both reject other floats.
TIMESTAMPS = st.sampled_from(
    ["2026-11-02T09:30:00Z", "2026-11-02T09:30:00.25+02:00", "2026-11-02T09:30:00", "soon"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
    | st.text(max_size=6)
    | TIMESTAMPS
    | st.sampled_from(["open", "won", "mon", "09:00", "EUR", "2026-12-01", "crm"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated_examples(draw: st.DrawFn) -> tuple[InputTopic, dict[str, Any]]:
    topic, record = draw(st.sampled_from(INPUT_CASES))
    schema = load(tag(record))
    obj = dict(schema["examples"][0])
    names = sorted(set(schema["properties"]) | {"extra"})
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(names))
        if draw(st.booleans()) and name in obj:
            del obj[name]
        else:
            obj[name] = draw(VALUES)
    return topic, obj


@given(mutated_examples())
def test_schema_and_decoder_agree_on_mutated_examples(
    case: tuple[InputTopic, dict[str, Any]],
) -> None:
    topic, obj = case
    key_value = obj.get(topic.key_field)
    key = key_value.encode() if isinstance(key_value, str) else b"-"
    decoded = Decoder(topic).decode(key, orjson.dumps(obj))
    record = next((rec for rec in topic.records if tag(rec) == obj.get("type")), None)
    schema_ok = record is not None and Draft202012Validator(load(tag(record))).is_valid(obj)
    assert schema_ok == (not isinstance(decoded, Rejection)), (obj, decoded)


def test_the_engagement_kinds_rules_check_knows_are_the_schemas() -> None:
    """`rules check` refuses kinds outside this list: it must be the contract's own."""
    from schemas.catalog import ENGAGEMENT_KINDS, SCHEMA_DIR

    schema = json.loads((SCHEMA_DIR / "engagement.recorded.v1.json").read_text())
    described = schema["properties"]["kind"]["description"]
    assert [k.strip() for k in described.split(",") if k.strip() != "..."] == list(ENGAGEMENT_KINDS)
