"""Every way an input can be bad has its own reason code; every contract example decodes."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.catalog import INPUT_TOPICS, schema_path
from workers.ingest.decoder import Decoder
from workers.ingest.errors import RejectCode, Rejection

OPPORTUNITY = {
    "event_id": "e1",
    "type": "opportunity.upserted",
    "occurred_at": "2026-11-02T09:30:00+01:00",
    "opportunity_id": "op-1",
    "contact_id": "c-1",
    "pipeline_id": "sales",
    "stage_id": "qualification",
    "status": "open",
    "amount": 500,
}


def decode(value: bytes, key: bytes | None = b"op-1", limit: int = 4096) -> object:
    return Decoder.for_topic("crm.opportunities", max_bytes=limit).decode(key, value)


def with_(**changes: object) -> bytes:
    return orjson.dumps({**OPPORTUNITY, **changes})


def test_valid_event_decodes_to_its_record() -> None:
    result = decode(with_())
    assert not isinstance(result, Rejection)
    assert type(result.event).__name__ == "OpportunityUpserted"
    assert result.key == "op-1"
    assert result.event.schema_version == 1


@pytest.mark.parametrize(
    ("value", "key", "code", "path"),
    [
        (b"\xff\xfe{}", b"op-1", RejectCode.INVALID_ENCODING, None),
        (b'{"event_id": ', b"op-1", RejectCode.INVALID_JSON, None),
        (b"[1, 2]", b"op-1", RejectCode.NOT_AN_OBJECT, None),
        (with_(stage_id=None), b"op-1", RejectCode.WRONG_TYPE, "$.stage_id"),
        (
            orjson.dumps({k: v for k, v in OPPORTUNITY.items() if k != "pipeline_id"}),
            b"op-1",
            RejectCode.MISSING_FIELD,
            "$.pipeline_id",
        ),
        (with_(type="opportunity.exploded"), b"op-1", RejectCode.UNKNOWN_EVENT_TYPE, "$.type"),
        (
            with_(schema_version=2),
            b"op-1",
            RejectCode.UNSUPPORTED_SCHEMA_VERSION,
            "$.schema_version",
        ),
        (with_(occurred_at="last tuesday"), b"op-1", RejectCode.BAD_TIMESTAMP, "$.occurred_at"),
        (
            with_(occurred_at="2026-11-02T09:30:00"),
            b"op-1",
            RejectCode.BAD_TIMESTAMP,
            "$.occurred_at",
        ),
        (with_(amount=-0.01), b"op-1", RejectCode.OUT_OF_RANGE, "$.amount"),
        (with_(status="maybe"), b"op-1", RejectCode.INVALID_VALUE, "$.status"),
        (with_(), b"op-2", RejectCode.KEY_MISMATCH, "$.opportunity_id"),
        (with_(), None, RejectCode.KEY_MISMATCH, "$.opportunity_id"),
        (with_(contact_id="x" * 5000), b"op-1", RejectCode.MESSAGE_TOO_LARGE, None),
        (b"", b"op-1", RejectCode.INVALID_JSON, None),
    ],
)
def test_each_bad_input_has_a_reason(value: bytes, key: bytes | None, code: str, path: str) -> None:
    result = decode(value, key)
    assert isinstance(result, Rejection)
    assert result.code == code
    assert result.path == path
    assert result.message


def test_an_event_type_of_another_topic_is_unknown_here() -> None:
    result = Decoder.for_topic("crm.engagements").decode(b"op-1", with_())
    assert isinstance(result, Rejection)
    assert result.code == RejectCode.UNKNOWN_EVENT_TYPE


def test_unknown_extra_fields_are_accepted_for_forward_compatibility() -> None:
    assert not isinstance(decode(with_(new_optional_field={"a": 1})), Rejection)


@pytest.mark.parametrize("topic", INPUT_TOPICS, ids=lambda t: t.name)
def test_every_schema_example_decodes_on_its_topic(topic: object) -> None:
    for event_type in topic.event_types:  # type: ignore[attr-defined]
        schema = json.loads(schema_path(event_type).read_text())
        for example in schema["examples"]:
            key = example[topic.key_field].encode()  # type: ignore[attr-defined]
            result = Decoder(topic).decode(key, orjson.dumps(example))  # type: ignore[arg-type]
            assert not isinstance(result, Rejection), result


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(value: bytes) -> None:
    for topic in INPUT_TOPICS:
        Decoder(topic).decode(b"k", value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from([*OPPORTUNITY, "x"]), json_values, max_size=12))
def test_arbitrary_objects_are_decoded_or_rejected_with_a_code(obj: dict[str, object]) -> None:
    result = decode(json.dumps({**OPPORTUNITY, **obj}).encode())
    if isinstance(result, Rejection):
        assert result.code in RejectCode
        assert result.message


def test_type_is_required_even_on_a_single_type_topic() -> None:
    body = b'{"event_id":"e","occurred_at":"2026-11-02T09:00:00Z","contact_id":"c","form_id":"f"}'
    result = Decoder.for_topic("crm.form-submissions").decode(b"c", body)
    assert isinstance(result, Rejection)
    assert (result.code, result.path) == (RejectCode.MISSING_FIELD, "$.type")
