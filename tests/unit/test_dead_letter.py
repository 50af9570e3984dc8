"""A dead letter always fits in one produce request, whatever the input's size (issue 16.2)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from workers.ingest.dead_letter import MAX_REQUEST, PREFIX, dead_letter, encode, inline_limit
from workers.ingest.errors import RejectCode, Rejection

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@given(
    size=st.one_of(
        st.integers(0, 2_000),
        st.sampled_from([inline_limit(), inline_limit() + 1, 1_000_000, 2_097_152, 10_000_000]),
    ),
    key=st.none() | st.binary(max_size=5_000),
    message=st.text(max_size=10_000),
)
def test_any_value_fits_and_is_identified(size: int, key: bytes | None, message: str) -> None:
    value = bytes(range(256)) * (size // 256) + bytes(size % 256)
    letter = dead_letter(
        topic="crm.contacts", partition=3, offset=7, key=key, value=value,
        rejection=Rejection(RejectCode.MESSAGE_TOO_LARGE, message), now=NOW,
    )  # fmt: skip
    assert len(encode(letter)) < MAX_REQUEST
    assert letter.value_size == size
    assert letter.value_sha256 == hashlib.sha256(value).hexdigest()
    kept = base64.b64decode(letter.value)
    if size <= inline_limit():
        assert (kept, letter.value_truncated) == (value, False)
    else:
        assert (kept, letter.value_truncated) == (value[:PREFIX], True)
