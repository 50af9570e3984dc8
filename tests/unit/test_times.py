"""One decoder for times (issue 16.3): RFC 3339 with Z or +HH:MM exactly as the schemas say,
and a plausible window for occurred_at; never a silent drop."""

from __future__ import annotations

import datetime as dt
import json
import re

import orjson
import pytest
from dealstream_core import rfc3339
from hypothesis import given
from hypothesis import strategies as st

from schemas.catalog import SCHEMA_DIR
from workers.ingest.decoder import Decoded, Decoder
from workers.ingest.errors import Rejection
from workers.ingest.times import PATTERN, RFC3339

decoder = Decoder.for_topic("crm.contacts")
reps = Decoder.for_topic("crm.reps")


def contact(at: object) -> bytes:
    return orjson.dumps(
        {"event_id": "e1", "type": "contact.upserted", "contact_id": "c1", "occurred_at": at}
    )


def test_every_schema_time_pattern_is_the_decoders() -> None:
    patterns = {
        spec["pattern"]
        for path in SCHEMA_DIR.glob("*.json")
        for spec in _time_properties(json.loads(path.read_text()))
    }
    assert patterns == {PATTERN}


def _time_properties(node: object) -> list[dict[str, str]]:
    found = []
    if isinstance(node, dict):
        if node.get("format") == "date-time":
            found.append(node)
        for value in node.values():
            found += _time_properties(value)
    elif isinstance(node, list):
        for value in node:
            found += _time_properties(value)
    return found


@pytest.mark.parametrize(
    ("at", "code"),
    [
        ("2026-11-29T10:00:00+0100", "bad_timestamp"),  # not RFC 3339 (msgspec alone took it)
        ("2026-11-29T10:00+01:00", "bad_timestamp"),
        ("2026-11-29", "bad_timestamp"),
        ("1969-12-31T23:59:59Z", "implausible_timestamp"),
        ("1900-01-01T00:00:00Z", "implausible_timestamp"),
        ("0001-01-01T00:00:00+01:00", "implausible_timestamp"),
        ("9999-12-31T23:59:59Z", "implausible_timestamp"),
        ("2026-11-29T10:00:00+01:00", None),
        ("2026-11-29 10:00:00.123456z", None),
    ],
)
def test_times(at: str, code: str | None) -> None:
    result = decoder.decode(b"c1", contact(at))
    if code is None:
        assert isinstance(result, Decoded), result
    else:
        assert isinstance(result, Rejection)
        assert (result.code.value, result.path) == (code, "$.occurred_at")


def test_a_nested_time_is_checked_too() -> None:
    rep = {
        "event_id": "r1", "type": "rep.upserted", "occurred_at": "2026-11-29T10:00:00Z",
        "rep_id": "r1", "product_lines": ["erp"], "active": True,
        "out_of_office": [{"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00+0100"}],
    }  # fmt: skip
    result = reps.decode(b"r1", orjson.dumps(rep))
    assert isinstance(result, Rejection)
    assert (result.code.value, result.path) == ("bad_timestamp", "$.out_of_office[0].end")


times = st.builds(
    lambda d, sep, frac, zone: f"{d:%Y-%m-%d}{sep}{d:%H:%M:%S}{frac}{zone}",
    st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2099, 1, 1)),
    st.sampled_from(["T", "t", " ", "_"]),
    st.sampled_from(["", ".5", ".123456", ".", ",5"]),
    st.sampled_from(["Z", "z", "+01:00", "-05:30", "+0100", "+01", "", " Z", "+24:00"]),
)


@given(st.one_of(times, st.text(max_size=30)))
def test_the_decoder_and_the_schema_pattern_agree(text: str) -> None:
    result = decoder.decode(b"c1", contact(text))
    schema_ok = re.search(PATTERN, text) is not None
    assert bool(RFC3339.match(text)) == schema_ok
    if not schema_ok:
        assert isinstance(result, Rejection)
        assert result.code.value == "bad_timestamp"
    else:  # the pattern allows it: decoded, or refused as a time (+24:00 has no meaning)
        assert isinstance(result, Decoded) or result.code.value == "bad_timestamp"


near = st.text(alphabet="0123456789-:.TtZz +\n_٣x", max_size=34)


def _edits(text: str, data: st.DataObject) -> str:
    """`text` with a character changed, dropped or added somewhere."""
    at = data.draw(st.integers(0, len(text)))
    char = data.draw(st.sampled_from("0123456789-:.TtZz +\n٣x"))
    how = data.draw(st.sampled_from(["set", "drop", "add"]))
    if how == "add":
        return text[:at] + char + text[at:]
    if how == "drop":
        return text[:at] + text[at + 1 :]
    return text[:at] + char + text[at + 1 :]


@given(st.one_of(times, near, st.text(max_size=30)), st.data())
def test_the_native_check_is_the_pattern(text: str, data: st.DataObject) -> None:
    """`dealstream_core.rfc3339`, which the decoder asks of every input time, says what the
    pattern's `re.match` says: of times, of texts near one, and of any text."""
    for candidate in (text, _edits(text, data), text + "\n", text + "\n\n"):
        assert rfc3339(candidate) == bool(RFC3339.match(candidate)), candidate


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-29T10:00:00Z",
        "2026-11-29t10:00:00.123456789z",
        "2026-11-29 10:00:00-05:30",
        "2026-11-29T10:00:00Z\n",  # `$` matches before a final newline
        "2026-11-29T10:00:00Z\n\n",
        "2026-11-29T10:00:00.Z",
        "2026-11-29T10:00:00.5",
        "2026-11-29T10:00:00+01:0",
        "2026-11-29T10:00:00+01:000",
        "٢٠٢٦-11-29T10:00:00Z",  # digits, but not ASCII ones: [0-9] refuses them
        "2026-11-29T10:00:00\ud800",  # not UTF-8 at all
        "",
    ],
)
def test_the_native_check_on_edges(text: str) -> None:
    assert rfc3339(text) == bool(RFC3339.match(text))
