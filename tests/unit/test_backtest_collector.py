"""During a replay the collector looks at each batch's new objects only; after it, the
collector is as it was, even when the replay fails."""

from __future__ import annotations

import gc

import pytest

from workers.backtest import collector


def test_frozen_between_batches_then_as_before() -> None:
    before = gc.get_threshold()
    with collector.frozen_between_batches():
        assert gc.get_threshold()[0] == collector.YOUNG
        kept = [object() for _ in range(3)]
        collector.after_batch()
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert len(kept) == 3


def _failing_replay() -> None:
    with collector.frozen_between_batches():
        collector.after_batch()
        raise RuntimeError("the history could not be read")


def test_as_before_when_the_replay_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        _failing_replay()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_what_the_process_froze_before_stays_frozen() -> None:
    gc.freeze()
    try:
        with collector.frozen_between_batches():
            collector.after_batch()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
