from __future__ import annotations

import orjson
from dealstream_core import SeenWindow
from hypothesis import given
from hypothesis import strategies as st

from workers.engine import table_form
from workers.ingest.dedupe import Seen, Stored, remember

ARRIVALS = st.lists(st.tuples(st.text(max_size=3), st.integers(0, 50)), max_size=60)


def test_new_then_duplicate_at_another_offset_then_replay_at_the_same_offset() -> None:
    verdict, window = remember(None, "e1", 10, 4)
    assert verdict is Seen.NEW
    assert remember(window, "e1", 11, 4)[0] is Seen.DUPLICATE
    assert remember(window, "e1", 10, 4)[0] is Seen.REPLAY


@given(ARRIVALS, st.integers(1, 8))
def test_window_is_bounded_and_keeps_the_newest(arrivals: list[tuple[str, int]], size: int) -> None:
    window: dict[str, int] | None = None
    for event_id, offset in arrivals:
        before = None if window is None else dict(window)
        verdict, new = remember(window, event_id, offset, size)
        assert window is None or window == before  # what the table holds is never changed
        window = orjson.loads(table_form.encode(new))  # as the table stores it: order kept
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


@given(ARRIVALS, st.integers(1, 8))
def test_the_native_window_gives_the_verdicts_and_window_of_its_reference(
    arrivals: list[tuple[str, int]], size: int
) -> None:
    """A native window (a shadow's table keeps it as put) against the dict code (a worker's
    table reads back JSON data): the same verdict at each arrival, the same ids and offsets in
    the same order, and the window handed in never changed."""
    native: Stored | None = None
    reference: Stored = {}
    for event_id, offset in arrivals:
        old, kept = native, None if native is None else table_form.to_builtins(native)
        verdict, native = remember(old, event_id, offset, size)
        expected, reference = remember(reference, event_id, offset, size)
        assert isinstance(native, SeenWindow)
        assert verdict is expected
        assert list(table_form.to_builtins(native).items()) == list(reference.items())
        assert len(native) == len(reference)
        assert native.get(event_id) == reference[event_id]
        assert old is None or table_form.to_builtins(old) == kept  # never changed
        assert SeenWindow(dict(reference)) == native  # read back from the table's form


@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.text(max_size=3), st.integers(0, 50)), max_size=80
    ),
    st.integers(1, 8),
)
def test_native_windows_that_share_a_buffer_stay_as_made(
    arrivals: list[tuple[int, str, int]], size: int
) -> None:
    """Native windows are immutable: making one again from any older window (a retried batch
    records from the table's window before it) changes neither that window nor those made
    from it, and each stays what the dict code made."""
    versions: list[tuple[Stored, SeenWindow | None]] = [({}, None)]
    for pick, event_id, offset in arrivals:
        reference, native = versions[pick % len(versions)]  # often not the newest
        expected, reference = remember(reference, event_id, offset, size)
        verdict, made = remember(native, event_id, offset, size)
        assert verdict is expected
        assert isinstance(made, SeenWindow)
        versions.append((reference, made))
    for reference, native in versions[1:]:
        assert native is not None
        assert list(table_form.to_builtins(native).items()) == list(dict(reference).items())


def test_a_full_native_window_sheds_its_buffer_and_keeps_the_newest() -> None:
    """Far more arrivals than the window holds: it keeps the newest, and the windows kept from
    along the way stay as they were."""
    window: SeenWindow | None = None
    kept: list[tuple[int, SeenWindow]] = []
    for n in range(1000):
        verdict, made = remember(window, f"event-{n}", n, 64)
        assert verdict is Seen.NEW
        assert isinstance(made, SeenWindow)
        window = made
        if n % 37 == 0:
            kept.append((n, made))
    assert window is not None
    assert list(window.table_form().items()) == [(f"event-{n}", n) for n in range(936, 1000)]
    for n, old in kept:
        first = max(0, n - 63)
        assert list(old.table_form().items()) == [(f"event-{i}", i) for i in range(first, n + 1)]
