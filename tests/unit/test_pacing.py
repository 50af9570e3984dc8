"""A paced scan yields once its slice has run the budget, and remembers its longest slice."""

from __future__ import annotations

import asyncio
import gc

import pytest

from workers.runtime.pacing import REPLAY_THRESHOLDS, Pacer, replay_collector, watch_collections


def test_a_scan_yields_when_the_budget_is_spent_and_keeps_the_longest_slice() -> None:
    now = [0.0]
    pacer = Pacer(budget=0.02, clock=lambda: now[0], cpu=lambda: now[0] / 2)
    yielded = 0

    async def scan() -> None:
        nonlocal yielded
        for step in (0.005, 0.01, 0.01, 0.03, 0.001, 0.02):
            now[0] += step
            if pacer.due():
                yielded += 1
                await pacer.pause()

    asyncio.run(scan())
    now[0] += 0.004
    assert pacer.finish() == 0.08
    assert yielded == 3  # after 0.025, 0.03 and 0.021 s
    assert pacer.slices == 4
    assert round(pacer.longest, 6) == 0.03
    assert round(pacer.longest_cpu, 6) == 0.015


def test_collections_are_observed_with_their_generation() -> None:
    seen: list[tuple[int, float]] = []
    callback = watch_collections(lambda generation, took: seen.append((generation, took)))
    try:
        gc.collect(1)
    finally:
        gc.callbacks.remove(callback)
    assert (1, seen[-1][1]) == seen[-1]
    assert seen[-1][1] >= 0


def test_the_loop_watch_sees_a_blocked_loop() -> None:
    """About time: the loop is blocked for 60 ms and the watch must report it."""
    import time

    from workers.runtime.pacing import watch_loop

    lags: list[float] = []
    seen = asyncio.Event()

    def observe(lag: float) -> None:
        lags.append(lag)
        if lag >= 0.04:
            seen.set()

    def hold_the_loop() -> None:
        time.sleep(0.06)

    async def scenario() -> None:
        watch = asyncio.ensure_future(watch_loop(observe, every=0.01))
        await asyncio.sleep(0.015)
        hold_the_loop()
        await asyncio.wait_for(seen.wait(), timeout=5)
        watch.cancel()

    asyncio.run(scenario())
    assert max(lags) >= 0.04


def test_the_worker_collects_less_often() -> None:
    from workers.runtime.pacing import COLLECTOR_THRESHOLDS, tune_collector

    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert COLLECTOR_THRESHOLDS[2] > before[2]
    finally:
        gc.set_threshold(*before)


def test_a_replay_collects_rarely_and_restores_the_thresholds_after_even_an_error() -> None:
    before = gc.get_threshold()
    with replay_collector():
        assert gc.get_threshold() == REPLAY_THRESHOLDS
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), replay_collector():
        raise RuntimeError("the replay failed")
    assert gc.get_threshold() == before
