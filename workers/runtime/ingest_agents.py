"""One agent per input topic: decode, validate, dedupe, then hand the event to the handlers.

Bad input goes to crm.dead-letters with the reason; the agent goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from schemas.catalog import INPUT_TOPICS, InputTopic
from workers.ingest.dead_letter import MAX_KEY, dead_letter, encode
from workers.ingest.decoder import Decoded, Decoder
from workers.ingest.dedupe import Seen, remember
from workers.ingest.errors import RejectCode, Rejection
from workers.ingest.partitioning import expected_partition, repartition_topic
from workers.runtime.context import AppContext
from workers.runtime.tables import json_table, raw_topic

log = logging.getLogger(__name__)

# A handler gets the decoded event and the Faust event (for the source partition/offset).
Handler = Callable[[Decoded, Any], Awaitable[None]]
DEAD_LETTERS = "crm.dead-letters"


def register_ingestion(ctx: AppContext, handlers: dict[str, list[Handler]]) -> dict[str, Any]:
    """Create the input topics, dedupe tables and agents; return the Faust topics by name."""
    topics = {}
    for spec in INPUT_TOPICS:
        topics[spec.name] = _register_topic(ctx, spec, handlers.get(spec.name, []))
    return topics


def _register_topic(ctx: AppContext, spec: InputTopic, handlers: list[Handler]) -> Any:
    app, settings, metrics = ctx.app, ctx.settings, ctx.metrics
    source = settings.topic(spec.name)
    moved_to = settings.topic(repartition_topic(spec.name))
    topic = raw_topic(app, settings, spec.name, also=(repartition_topic(spec.name),))
    mispartitioned = metrics.mispartitioned.labels(spec.name)
    partitions = settings.partitions
    seen = json_table(
        app, settings, f"seen-{spec.name}", f"Recent event ids per key of {spec.name}"
    )
    decoder = Decoder(spec, settings.max_message_bytes, settings.occurred_window)
    valid = metrics.events_valid.labels(spec.name)
    duplicates = metrics.duplicates.labels(spec.name)
    replays = metrics.replays.labels(spec.name)
    window = settings.dedupe_window
    latency = metrics.processing_latency.labels(spec.name)

    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            result = decoder.decode(message.key, message.value)
            if isinstance(result, Rejection):
                await _dead_letter(ctx, spec.name, message, result)
                continue
            if message.topic == source and message.key is not None:
                place = expected_partition(message.key, partitions)
                if place != message.partition:  # a CRC32 (librdkafka) producer: move it
                    mispartitioned.inc()
                    await app.producer.send(moved_to, message.key, message.value, place, None, None)
                    continue
            verdict, ids = remember(
                seen.get(result.key), result.event.event_id, message.offset, window
            )
            if verdict is Seen.DUPLICATE:
                duplicates.inc()
                continue
            if verdict is Seen.REPLAY:
                replays.inc()
            else:
                seen[result.key] = ids
                valid.inc()
            for handler in handlers:
                try:
                    await handler(result, event)
                except Exception as exc:  # a bug must not stop the partition: dead-letter it
                    log.exception("handler %s failed on %s", handler.__name__, spec.name)
                    rejection = Rejection(
                        RejectCode.PROCESSING_ERROR, f"{type(exc).__name__}: {exc}"
                    )
                    await _dead_letter(ctx, spec.name, message, rejection)
            if message.timestamp:
                latency.observe(max(0.0, time.time() - message.timestamp))

    app.agent(topic, name=f"ingest-{spec.name}")(ingest)
    return topic


async def _dead_letter(ctx: AppContext, topic: str, message: Any, rejection: Rejection) -> None:
    """Send the dead letter, wait for the broker, then count it."""
    record = dead_letter(
        topic=topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        rejection=rejection,
        now=ctx.clock.now(),
    )
    log.info("dead letter %s[%d]@%d: %s", topic, message.partition, message.offset, rejection)
    key = message.key if message.key is None or len(message.key) <= MAX_KEY else None
    await ctx.emit_confirmed(DEAD_LETTERS, key, encode(record))
    ctx.metrics.dead_letters.labels(topic, rejection.code.value).inc()
