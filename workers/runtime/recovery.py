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

Changelog records do not take Faust's one-record-at-a-time path either: the consumer hands each
partition's fetch to `apply_fetched`, which writes it into the store in one batch together with
the offset reached (`workers.runtime.restore`), keeps Faust's offsets of actives and standbys,
and sets the signals Faust's `_slurp_changelogs` would set. Faust's table manager still decides
what is active and standby, seeks the changelogs, and says when the worker is ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery

from workers.runtime.restore import ChangelogRecord, RestoreRate, UnsupportedStore, write_fetch

log = logging.getLogger(__name__)


class Remaining(NamedTuple):
    """Changelog records a table partition still has to restore."""

    table: str
    partition: int
    role: str  # "active" or "standby"
    records: int


class SeekFirstRecovery(Recovery):
    rate: RestoreRate
    _restore_started: float | None = None
    _restored_this_time: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rate = RestoreRate()
        self._roles = 0  # how many times the roles (active, standby) were handed out
        self._sought: set[str] = set()  # roles whose changelogs were sought since then
        self._rebalances = 0  # the app's count of rebalances begun, as the roles came

    # --- the roles, and where their records start -------------------------------------------
    async def on_rebalance(self, *args: Any, **kwargs: Any) -> None:
        """The roles are handed out again: no record of either role is written until Faust
        has sought that role's changelog partitions to the offsets this worker has applied
        (`_seek_offsets`); what is fetched before then is read again from there.

        Such a fetch comes from wherever the partition was read last (as a standby here, or
        before a revocation). Written under the new roles, it set the partition's offset to
        the fetch's end; Faust's `_build_offsets` keeps the larger offset and seeks there, so
        the records between the store's content and that fetch were never restored. With the
        memory store, which holds no offset of its own and drops a standby's keys whenever a
        recovery completes, contacts came back older than the checkpoint beside them: their
        inputs were skipped as applied, and their next scores took ids already published. That
        is the one path found to a CI run of the three-kill test that published scores twice
        (memory store; not reproduced in reruns since). The flow that could deliver such
        fetches was resumed by the end of a recovery overlapping the next rebalance
        (`on_recovery_completed`)."""
        self._roles += 1
        self._sought = set()
        self._rebalances = self.app.rebalancing_count  # counted as its revocation began
        await super().on_rebalance(*args, **kwargs)

    async def _seek_offsets(self, consumer: Any, tps: Any, offsets: Any, title: str) -> None:
        roles = self._roles
        await super()._seek_offsets(consumer, tps, offsets, title)
        if roles == self._roles:  # a seek for roles since replaced leaves the new ones unsought
            self._sought.add(title)

    @property
    def restored_total(self) -> int:
        """Changelog records written to the stores by this worker (actives and standbys)."""
        return self.rate.total

    # --- the fast path: one store write per fetch ---------------------------------------------
    def handles(self, tp: Any) -> bool:
        """Whether `tp` is a changelog partition of one of the worker's tables."""
        return tp.topic in self.tables._changelogs

    def apply_fetched(self, tp: Any, records: Sequence[ChangelogRecord]) -> bool:
        """Restore one partition's fetched changelog records; False: leave them to Faust."""
        if tp in self.active_tps:
            if not self.in_recovery or "active" not in self._sought:
                # restored: what the changelog holds after that is the engine's own writes,
                # already in the store; a fetch that arrives late must not put an older value
                # back over a newer one (a new recovery seeks to the persisted offset anyway).
                # Not sought yet: fetched from where it was read before; read again from there.
                return True
            offsets, role = self.active_offsets, "active"
        elif tp in self.standby_tps:
            if "standby" not in self._sought:
                return True  # read before the standbys were sought: read again from there
            offsets, role = self.standby_offsets, "standby"
        else:  # neither (revoked meanwhile): Faust drops these too
            log.debug("changelog %s is neither active nor standby here: skipped", tp)
            return True
        seen = offsets.get(tp)
        fresh = records if seen is None else [r for r in records if r.offset > seen]
        if fresh:
            table = self.tp_to_table[tp]
            try:
                write_fetch(table, tp.partition, fresh)
            except UnsupportedStore:
                return False
            offsets[tp] = fresh[-1].offset
            now = time.monotonic()
            self._last_flush_at = now
            if role == "active":
                self._active_events_received_at[tp] = now
                if self._restore_started is None:
                    self._restore_started = now
                self._restored_this_time += len(fresh)
            self.rate.add(len(fresh))
        self._signal_progress()
        return True

    def _set_recovery_started(self) -> None:
        """A recovery starts (Faust calls this again just before it waits for the actives):
        its end is this recovery's to signal. Faust clears the signal in its changelog loop,
        each time that loop wakes; with the fetches written here the loop idles, and wakes
        every 5 s. A rebalance within those 5 s after a recovery ended started the next one
        with the signal still set: it ended at once, and the worker went on with partitions
        it had just been given unrestored (their changelog then landed under records already
        processed, older values over newer ones: a CI run lost the engagements of a partition
        after three kill -9s)."""
        super()._set_recovery_started()
        self.signal_recovery_end.clear()

    def _signal_progress(self) -> None:
        """What Faust's `_slurp_changelogs` does after each record, once per fetch."""
        if self.in_recovery and not self.need_recovery():
            self.flush_buffers()
            self._set_recovery_ended()
            self._log_restored()
            self.signal_recovery_end.set()
        if not self.tables.standbys_ready and not self.standby_remaining_total():
            self.tables.on_standbys_ready()

    def _log_restored(self) -> None:
        if self._restore_started is None:
            return
        took = max(time.monotonic() - self._restore_started, 1e-9)
        count = self._restored_this_time
        log.info("restored %d changelog records in %.1f s (%.0f records/s)",
                 count, took, count / took)  # fmt: skip
        self._restore_started, self._restored_this_time = None, 0

    def remaining(self) -> list[Remaining]:
        """Records left per table partition, actives and standbys (for metrics and /readyz)."""
        rows = []
        for role, counter in (("active", self.active_remaining()),
                              ("standby", self.standby_remaining())):  # fmt: skip
            for tp, count in counter.items():
                table = self.tp_to_table.get(tp)
                name = table.name if table is not None else tp.topic
                rows.append(Remaining(name, tp.partition, role, max(0, int(count))))
        return rows

    def eta_seconds(self) -> float | None:
        """Seconds until the actives are restored, at the recent rate (None: unknown)."""
        return self.rate.eta(self.active_remaining_total())

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
        if self.app.rebalancing_count != self._rebalances:
            # a rebalance began meanwhile: its revocation stopped the flow, and the seek above
            # waited for its join (seconds, until the group is complete). Resumed now, the flow
            # would read on under roles about to change; the next recovery resumes it.
            self.log.info("A rebalance began as the recovery ended: the next one resumes")
            return
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
