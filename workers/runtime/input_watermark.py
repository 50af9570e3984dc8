"""How far the group has processed the topics that re-arm deadlines (the offsets side of
workers/triggers/watermark.py).

Every `READ_EVERY` seconds each worker reads the group's committed offsets, then the end
offsets, of the topics that can change when a deadline is due: opportunity events, engagements
and the two internal hops between them (the contact links and the buyer actions). Ticks then
judge deadlines at `horizon(now)`: the watermark, or the clock once the inputs have been behind
for `backlog_hold`. While the inputs keep up the watermark trails the clock by about one read
and one offset commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from workers.kafka_client import client_options
from workers.settings import Settings
from workers.topics.internal import BUYER_ACTIONS, LINKS
from workers.triggers.watermark import Watermark

log = logging.getLogger(__name__)

READ_EVERY = 0.5  # seconds
FEEDS = ("crm.opportunities", "crm.engagements", LINKS, BUYER_ACTIONS)
DEPTH = 2  # hops: engagement → buyer action; opportunity → link


class InputWatermark:
    def __init__(
        self, settings: Settings, clock: Callable[[], float], hold: Callable[[], float]
    ) -> None:
        self.settings = settings
        self.clock = clock  # the worker's clock (seconds since the epoch)
        self.hold = hold  # the rules' backlog_hold, in seconds (rules may be reloaded)
        self.topics = [settings.topic(name) for name in FEEDS]
        self.watermark = Watermark(depth=DEPTH)
        self.started = clock()
        self.last_read = self.started  # when offsets were last read
        self.behind_since: float | None = self.started  # no offsets read yet
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._failing = False

    def horizon(self, now: float) -> float | None:
        """Deadlines due up to this time may be judged now; None: none yet (no offsets read
        since the start). Once the watermark has stayed short of one moment for `backlog_hold`
        of this worker's time, the clock: a backlog that never drains must not stop triggers
        for good. (Under steady traffic the watermark passes each moment within a read or two,
        so the hold never gives up there.)"""
        hold = self.hold()
        if self.behind_since is not None and now - self.behind_since >= hold:
            return now
        if now - self.last_read >= hold:  # offsets not read for that long: the clock decides
            return now
        return None if self.watermark.safe is None else min(now, self.watermark.safe)

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.read()
                except Exception:  # a bug: logged; reads go on (the hold bounds a gap)
                    log.exception("input watermark: read failed")
                await asyncio.sleep(READ_EVERY)
        finally:
            await self.stop()

    async def read(self) -> None:
        """One observation; a broker error keeps the last watermark (the hold bounds it)."""
        try:
            at = self.clock()
            admin, reader = await self._clients()
            committed = await admin.list_consumer_group_offsets(self.settings.app_id)
            tps = [
                TopicPartition(t, p)
                for t in self.topics
                for p in reader.partitions_for_topic(t) or ()
            ]
            ends = await reader.end_offsets(tps) if tps else {}
        except (TimeoutError, KafkaError, OSError) as exc:
            if not self._failing:
                log.warning("input watermark: offsets not read (%s); retrying", exc)
            self._failing = True
            await self.stop()
            return
        if self._failing:
            log.info("input watermark: offsets read again")
        self._failing = False
        self.observe(
            at,
            {_name(tp): end for tp, end in ends.items()},
            {_name(tp): meta.offset for tp, meta in committed.items() if meta.offset >= 0},
        )

    def observe(self, at: float, ends: dict[str, int], committed: dict[str, int]) -> None:
        """Offsets read at `at` (committed first, then ends)."""
        safe = self.watermark.observe(at, ends, committed)
        self.last_read = at
        if safe == at:
            self.behind_since = None  # nothing behind
        elif self.behind_since is None or (safe is not None and safe >= self.behind_since):
            self.behind_since = at  # what was behind before is processed: a newer backlog

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._reader is None:
            await self.stop()
            options = client_options(self.settings)
            admin = AIOKafkaAdminClient(**options)
            reader = AIOKafkaConsumer(**options, enable_auto_commit=False, group_id=None)
            self._admin, self._reader = admin, reader
            await admin.start()
            await reader.start()
            await reader._client.set_topics(self.topics)  # learn their partitions
        return self._admin, self._reader

    async def stop(self) -> None:
        admin, reader, self._admin, self._reader = self._admin, self._reader, None, None
        for client in (reader, admin):
            if client is None:
                continue
            try:
                await (client.stop() if isinstance(client, AIOKafkaConsumer) else client.close())
            except Exception:  # closing a client that never connected
                log.debug("input watermark: close failed", exc_info=True)


def _name(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"
