from __future__ import annotations

import pytest

from workers.ingest.errors import RejectCode
from workers.publish.prepare import LineError, Prepared, UnknownTopic, prepare

GOOD = b'{"event_id":"e1","type":"contact.upserted","occurred_at":"2026-11-02T09:00:00Z","contact_id":"c-7"}'


def test_good_lines_are_keyed_by_their_id_and_bad_lines_are_reported_by_number() -> None:
    lines = [GOOD, b"", b"{oops", GOOD.replace(b'"c-7"', b"7")]
    results = prepare("crm.contacts", lines)
    assert results[0] == Prepared(1, b"c-7", GOOD)
    assert isinstance(results[1], LineError)
    assert results[1].line == 3
    assert results[1].rejection.code is RejectCode.INVALID_JSON
    assert isinstance(results[2], LineError)
    assert results[2].line == 4
    assert "line 4" in str(results[2])


def test_unknown_topic_is_refused() -> None:
    with pytest.raises(UnknownTopic, match=r"crm\.nope"):
        prepare("crm.nope", [GOOD])
