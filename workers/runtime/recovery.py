"""Faust's table recovery, with stream partitions sought to their commits *before* they resume.

faust-streaming 0.15.3 ends a recovery (`Recovery.on_recovery_completed`) by resuming the stream
partitions and only then seeking them to their committed offsets. The seek asks the coordinator
for one partition at a time, so for a few hundred milliseconds records flow to the agents; then
the seek moves the fetch positions and Faust's read offsets back under them. The consumer then
takes the next records of an old batch for a gap, marks the gap as acknowledged and commits past
records no agent has seen, or drops records it has re-fetched (faust-streaming #216 is the same
race in the no-table path, fixed there by #217). We saw it as sales-ready leads never routed
after a SIGKILL and a rebalance.

Here the stream partitions stay paused until the seek is done, and are resumed afterwards: the
first record an agent sees is the first uncommitted one, every time.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery


class SeekFirstRecovery(Recovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Faust's `on_recovery_completed`, with the seek moved before the resume."""
        consumer = self.app.consumer
        self.log.info("Restore complete!")
        await self.app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(
                    self.actives_for_table[table], self.standbys_for_table[table]
                )
            )
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        assignment = consumer.assignment()
        if self.app.consumer_generation_id != generation_id:
            self.log.warning(
                "Recovery rebalancing again app id %s param %s",
                self.app.consumer_generation_id,
                generation_id,
            )
            return
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        self.completed.set()
        self.app.flow_control.resume()
        consumer.resume_flow()
        await cast(Any, self.app)._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not self.app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")


class SeekFirstTableManager(TableManager):
    """Faust's table manager with `SeekFirstRecovery` (set as the app's `TableManager`)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekFirstRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
