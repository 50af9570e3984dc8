"""The recovery ends by seeking the stream partitions to their commits, and only then resumes
them (faust-streaming 0.15.3 resumes first: records flow, the seek moves the read offsets back
under them, and the consumer commits past records no agent saw)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import faust
from faust.tables.recovery import Recovery
from faust.types import TP

from workers.runtime.recovery import SeekFirstRecovery

STREAM = TP("crm.engagements", 0)
CHANGELOG = TP("dealstream-contacts-changelog", 0)


class RecordingConsumer:
    """The consumer calls a recovery makes at its end, in order."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def assignment(self) -> set[TP]:
        return {STREAM, CHANGELOG}

    async def perform_seek(self) -> None:
        self.calls.append("seek")
        await asyncio.sleep(0.01)  # the coordinator answers later: nothing may flow meanwhile
        self.calls.append("sought")

    def resume_partitions(self, tps: set[TP]) -> None:
        self.calls.append(f"resume {sorted(tp.topic for tp in tps)}")

    def resume_flow(self) -> None:
        self.calls.append("resume flow")


class Fetcher:
    async def maybe_start(self) -> None:
        return None


def ended_recovery(app: faust.App) -> list[str]:
    calls: list[str] = []
    recovery = app.tables.recovery
    assert isinstance(recovery, SeekFirstRecovery)
    app_: Any = app
    app_._consumer = RecordingConsumer(calls)
    app_._fetcher = Fetcher()
    recovery._is_changelog_tp = lambda tp: tp == CHANGELOG  # type: ignore[method-assign]

    async def wait(coro: Any, **_: Any) -> None:
        await coro  # Faust's `_wait` also gives up when a new rebalance starts

    recovery._wait = wait  # type: ignore[method-assign]
    asyncio.run(recovery.on_recovery_completed(generation_id=app.consumer_generation_id))
    return calls


def test_the_stream_partitions_resume_only_after_the_seek(tmp_path: Any) -> None:
    app = faust.App(
        "t-recovery",
        broker="kafka://127.0.0.1:1",
        datadir=str(tmp_path),
        TableManager="workers.runtime.recovery:SeekFirstTableManager",
    )
    calls = ended_recovery(app)
    assert calls == ["seek", "sought", "resume ['crm.engagements']", "resume flow"]
    assert app.tables.recovery.completed.is_set()


def test_upstream_still_resumes_before_seeking() -> None:
    """When faust-streaming fixes the order, this fails: drop `workers/runtime/recovery.py`."""
    source = inspect.getsource(Recovery.on_recovery_completed)
    assert source.index("resume_partitions") < source.index("perform_seek")
    ours = inspect.getsource(SeekFirstRecovery.on_recovery_completed)
    assert ours.index("perform_seek") < ours.index("resume_partitions")
