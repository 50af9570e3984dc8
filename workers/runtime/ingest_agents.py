"""One agent per input topic: decode, validate, dedupe, then hand the event to the features.

Each poll's events go through the engine of the topic's group as one batch: the features'
steps (`Step`) change their tables and emit outputs in the batch's transaction, without an
await. Bad input goes to crm.dead-letters with the reason (through the outbox: once, even when
its offset is processed again), and so does an input that makes a step fail; the agent goes on.
Broker errors are the engine's: retried, never dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas.catalog import INPUT_TOPICS, InputTopic
from workers.engine.transaction import Transaction
from workers.ingest.dead_letter import MAX_KEY, dead_letter, encode
from workers.ingest.decoder import Decoded, Decoder
from workers.ingest.dedupe import Seen, remember
from workers.ingest.errors import RejectCode, Rejection
from workers.ingest.partitioning import expected_partition, repartition_topic
from workers.runtime.context import AppContext
from workers.runtime.engines import Engines
from workers.runtime.tables import json_table, raw_topic

log = logging.getLogger(__name__)

# A step runs in the batch's transaction: (tx, decoded, partition). It must not await.
Step = Callable[[Transaction, Decoded, int], None]
DEAD_LETTERS = "crm.dead-letters"
DEAD_LETTERED = "__dead_lettered__:"  # key prefix in the seen table: topic:partition → offset


@dataclass
class Consumers:
    """What an input topic feeds, and the engine group whose tables it changes."""

    group: str
    steps: list[Step] = field(default_factory=list)


def register_ingestion(ctx: AppContext, engines: Engines, consumers: dict[str, Consumers]) -> None:
    """Create the input topics, dedupe tables and agents."""
    for spec in INPUT_TOPICS:
        IngestTopic(ctx, engines, spec, consumers.get(spec.name) or Consumers(spec.name))


class IngestTopic:
    def __init__(
        self, ctx: AppContext, engines: Engines, spec: InputTopic, consumers: Consumers
    ) -> None:
        self.ctx, self.engines, self.spec = ctx, engines, spec
        app, settings = ctx.app, ctx.settings
        self.group = group = consumers.group
        self.steps = consumers.steps
        self.source = settings.topic(spec.name)
        moved = repartition_topic(spec.name)
        self.seen = json_table(
            app, settings, f"seen-{spec.name}", f"Recent event ids of {spec.name}"
        )
        engines.table(group, self.seen)
        engines.input(group, spec.name)
        engines.input(group, moved)
        self.dead_letters = engines.output(group, DEAD_LETTERS)
        self.moved_to = engines.output(group, moved)
        self.decoder = Decoder(spec, settings.max_message_bytes, settings.occurred_window)
        self.window = settings.dedupe_window
        self.partitions = settings.partitions
        # Misplaced records come back through their own agent (same code). One Faust channel
        # over both topics lost a taken-over partition's input in the scale-out test.
        topic, moved_topic = raw_topic(app, settings, spec.name), raw_topic(app, settings, moved)
        engines.agent(group, topic, f"ingest-{spec.name}", self._work)
        engines.agent(group, moved_topic, f"ingest-moved-{spec.name}", self._work)

    def _work(self, events: list[Any]) -> Callable[[Transaction], None]:
        counts: Counter[str] = Counter()

        def work(tx: Transaction) -> None:
            for event in events:
                self._apply(tx, event, counts)
            tx.after_commit(lambda: self._observe(events, counts))

        return work

    def _apply(self, tx: Transaction, event: Any, counts: Counter[str]) -> Decoded | None:
        message = event.message
        partition, offset = message.partition, message.offset
        result: Decoded | Rejection | None = message.decoded
        if result is None:
            result = self.decoder.decode(message.key, message.value)
        if isinstance(result, Rejection):
            self._dead_letter(tx, message, result, counts)
            return None
        if message.topic == self.source and message.key is not None:
            place = expected_partition(message.key, self.partitions)
            if place != partition:  # a CRC32 (librdkafka) producer: move it
                counts["mispartitioned"] += 1
                move_id = f"moved:{self.spec.name}:{partition}:{offset}"
                tx.emit(partition, self.moved_to, message.key, message.value, move_id, place)
                return None
        verdict, ids = remember(
            tx.get(self.seen.name, partition, result.key),
            result.event.event_id,
            offset,
            self.window,
        )
        if verdict is Seen.DUPLICATE:
            counts["duplicates"] += 1
            return None
        if verdict is Seen.REPLAY:
            counts["replays"] += 1
        else:
            tx.put(self.seen.name, partition, result.key, ids)
            counts["valid"] += 1
        for step in self.steps:
            try:
                step(tx, result, partition)
            except Exception as exc:  # this input made a feature fail: dead-letter it
                log.exception("%s failed on %s", getattr(step, "__name__", step), message.topic)
                rejection = Rejection(RejectCode.PROCESSING_ERROR, f"{type(exc).__name__}: {exc}")
                self._dead_letter(tx, message, rejection, counts)
        return result

    def _dead_letter(
        self, tx: Transaction, message: Any, rejection: Rejection, counts: Counter[str]
    ) -> None:
        """Dead-letter an input once: the outbox never sends its id twice, and the highest
        dead-lettered offset per partition (in the seen table) covers any later replay."""
        partition = message.partition
        mark = f"{DEAD_LETTERED}{message.topic}:{partition}"
        through = tx.get(self.seen.name, partition, mark)
        if isinstance(through, int) and message.offset <= through:
            counts["repeated"] += 1
            return
        record = dead_letter(
            topic=self.spec.name,
            partition=partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            rejection=rejection,
            now=self.ctx.clock.now(),
            source=message.topic,
        )
        log.info("dead letter %s[%d]@%d: %s", self.spec.name, partition, message.offset, rejection)
        key = message.key if message.key is None or len(message.key) <= MAX_KEY else None
        tx.emit(partition, self.dead_letters, key, encode(record), record.dead_letter_id or "")
        tx.put(self.seen.name, partition, mark, message.offset)
        counts[f"dead:{rejection.code.value}"] += 1

    def _observe(self, events: list[Any], counts: Counter[str]) -> None:
        m, name = self.ctx.metrics, self.spec.name
        for what, n in counts.items():
            if what.startswith("dead:"):
                m.dead_letters.labels(name, what[5:]).inc(n)
            elif what == "repeated":
                m.dead_letters_repeated.labels(name).inc(n)
            elif what == "mispartitioned":
                m.mispartitioned.labels(name).inc(n)
            elif what == "duplicates":
                m.duplicates.labels(name).inc(n)
            elif what == "replays":
                m.replays.labels(name).inc(n)
            elif what == "valid":
                m.events_valid.labels(name).inc(n)
        latency = m.processing_latency.labels(name)
        now = time.time()
        for event in events:
            if event.message.timestamp:
                latency.observe(max(0.0, now - event.message.timestamp))
