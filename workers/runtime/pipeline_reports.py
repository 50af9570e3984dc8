"""The /pipelines report and the pipeline gauges, built in slices of the event loop.

With a million open deals a report walks every deal (about half a second): run in one go at
every scrape, it stalled fetches, commits and ticks. Built in a thread it did not do better:
the thread and the loop take turns at the GIL, and the loop waited up to 5 ms each time it came
back from I/O. Here the books are copied (a dict copy per partition, yielding between them) and
the report's steps (`report_steps`) run on the loop, yielding every 10 ms of work. Callers at
the same time share one build, and a caller may accept a report up to `max_age` old.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from workers.pipeline.book import PipelineBook, PipelineConfig
from workers.pipeline.report import report_steps
from workers.runtime.pacing import run_paced


class PipelineReports:
    def __init__(
        self,
        books: Callable[[], Mapping[int, PipelineBook]],
        config: Callable[[], PipelineConfig],
        now: Callable[[], float],
    ) -> None:
        self.books = books
        self.config = config
        self.now = now
        self._report: dict[str, Any] | None = None
        self._stage_time: list[dict[tuple[str, str], list[float]]] = []
        self._built_at = float("-inf")
        self._building: asyncio.Future[dict[str, Any]] | None = None

    async def get(self, max_age: float = 0.0) -> dict[str, Any]:
        """A report of this worker's partitions, built at most `max_age` seconds ago."""
        if self._report is not None and time.monotonic() - self._built_at <= max_age:
            return self._report
        if self._building is None:
            self._building = asyncio.ensure_future(self._build())
            self._building.add_done_callback(self._built)
        return await asyncio.shield(self._building)

    def stage_times(self) -> list[dict[tuple[str, str], list[float]]]:
        """The stage-time sums of each book, as of the last report."""
        return self._stage_time

    def _built(self, _: asyncio.Future[dict[str, Any]]) -> None:
        self._building = None

    async def _build(self) -> dict[str, Any]:
        started = time.monotonic()
        partitions, copies = [], []
        for partition, book in sorted(self.books().items()):
            partitions.append(partition)
            copies.append(book.snapshot())
            await asyncio.sleep(0)
        report = await run_paced(report_steps(copies, self.config(), self.now()))
        report["partitions"] = partitions
        self._report, self._built_at = report, started
        self._stage_time = [c.stage_time for c in copies]
        return report
