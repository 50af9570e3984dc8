from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from workers.ingest.dedupe import Seen, Window, remember


def test_new_then_duplicate_at_another_offset_then_replay_at_the_same_offset() -> None:
    verdict, window = remember(None, "e1", 10, 4)
    assert verdict is Seen.NEW
    assert remember(window, "e1", 11, 4)[0] is Seen.DUPLICATE
    assert remember(window, "e1", 10, 4)[0] is Seen.REPLAY


@given(st.lists(st.tuples(st.text(max_size=3), st.integers(0, 50)), max_size=60), st.integers(1, 8))
def test_window_is_bounded_and_keeps_the_newest(arrivals: list[tuple[str, int]], size: int) -> None:
    window: Window | None = None
    for event_id, offset in arrivals:
        before = None if window is None else dict(window)
        verdict, new = remember(window, event_id, offset, size)
        assert window is None or window == before  # what the table holds is never changed
        window = orjson.loads(orjson.dumps(new))  # as the table stores it: order kept
        assert len(window) <= size
        if verdict is Seen.NEW:
            assert list(window.items())[-1] == (event_id, offset)
        # whatever happened, the id is now known (new, replay or duplicate)
        assert remember(window, event_id, offset, size)[0] is not Seen.NEW


def test_a_window_stored_as_pairs_by_an_earlier_build_is_the_same_window() -> None:
    pairs: list[list[str | int]] = [["e1", 10], ["e2", 11]]
    assert remember(pairs, "e1", 10, 4) == (Seen.REPLAY, {"e1": 10, "e2": 11})
    assert remember(pairs, "e2", 12, 4)[0] is Seen.DUPLICATE
    assert remember(pairs, "e3", 12, 2) == (Seen.NEW, {"e2": 11, "e3": 12})
    assert pairs == [["e1", 10], ["e2", 11]]
