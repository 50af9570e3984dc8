from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workers.ingest.dedupe import Seen, remember


def test_new_then_duplicate_at_another_offset_then_replay_at_the_same_offset() -> None:
    verdict, window = remember(None, "e1", 10, 4)
    assert verdict is Seen.NEW
    assert remember(window, "e1", 11, 4)[0] is Seen.DUPLICATE
    assert remember(window, "e1", 10, 4)[0] is Seen.REPLAY


@given(st.lists(st.tuples(st.text(max_size=3), st.integers(0, 50)), max_size=60), st.integers(1, 8))
def test_window_is_bounded_and_keeps_the_newest(arrivals: list[tuple[str, int]], size: int) -> None:
    window: list[list[str | int]] | None = None
    for event_id, offset in arrivals:
        verdict, window = remember(window, event_id, offset, size)
        assert len(window) <= size
        if verdict is Seen.NEW:
            assert window[-1] == [event_id, offset]
        # whatever happened, the id is now known (new, replay or duplicate)
        assert remember(window, event_id, offset, size)[0] is not Seen.NEW
