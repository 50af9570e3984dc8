"""One agent per input topic: decode, validate, dedupe, then hand the event to the handlers.

Bad input goes to crm.dead-letters with the reason; the agent goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

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
DEAD_LETTERED = "__dead_lettered__:"  # key prefix in the seen table: topic:partition → offset
# Errors that are not the input's fault (retried, never dead-lettered).
INFRASTRUCTURE = (KafkaError, RedisError, ConnectionError, TimeoutError, asyncio.TimeoutError)


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
    topic = raw_topic(app, settings, spec.name)
    # Misplaced records come back through their own agent (same code). One Faust channel over
    # both topics lost a taken-over partition's input in the scale-out test (3 failures in 8
    # runs; 0 in 5 with two agents).
    moved_topic = raw_topic(app, settings, repartition_topic(spec.name))
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
                await _dead_letter_once(ctx, spec.name, message, result, seen)
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
                failure = await _run(ctx, handler, result, event)
                if failure is _MOVED:
                    break  # the partition went to another worker: it re-processes the event
                if failure is not None:  # this input made a handler fail (logged): dead-letter it
                    rejection = Rejection(RejectCode.PROCESSING_ERROR, failure)
                    await _dead_letter_once(ctx, spec.name, message, rejection, seen)
            if message.timestamp:
                latency.observe(max(0.0, time.time() - message.timestamp))

    app.agent(topic, name=f"ingest-{spec.name}")(ingest)
    app.agent(moved_topic, name=f"ingest-moved-{spec.name}")(ingest)
    return topic


_MOVED = "moved"


async def _run(ctx: AppContext, handler: Handler, decoded: Decoded, event: Any) -> str | None:
    """Run a handler: None when it succeeded, its error when the input made it fail.

    An infrastructure error (broker, Redis, a rebalance: "partition not assigned") is not the
    input's fault: the handler is retried with back-off (handlers are idempotent) while this
    worker still owns the partition; once it does not, `_MOVED`, and the new owner
    re-processes the event from the committed offset. Never a dead letter.
    """
    delay = 0.2
    while True:
        try:
            await handler(decoded, event)
            return None
        except INFRASTRUCTURE as exc:
            message = event.message
            if not _assigned(ctx, message.topic, message.partition):
                log.warning("%s[%d]@%d: partition moved while handling (%s); the new owner "
                            "re-processes it", message.topic, message.partition, message.offset,
                            exc)  # fmt: skip
                return _MOVED
            ctx.metrics.handler_retries.labels(type(exc).__name__).inc()
            log.warning("%s: %s; retrying in %.1f s", handler.__name__, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        except Exception as exc:
            log.exception("handler %s failed on %s", handler.__name__, event.message.topic)
            return f"{type(exc).__name__}: {exc}"


def _assigned(ctx: AppContext, topic: str, partition: int) -> bool:
    consumer = ctx.app.consumer
    if consumer is None:
        return False
    return any(tp.topic == topic and tp.partition == partition for tp in consumer.assignment())


async def _dead_letter_once(
    ctx: AppContext, topic: str, message: Any, rejection: Rejection, seen: Any
) -> None:
    """Dead-letter an input once, even when its offset is processed again (a crash, a
    rebalance, `dealstream replay`): a partition's inputs are handled in offset order and the
    highest dead-lettered offset is recorded after delivery, so an invalid input at or below
    it was dead-lettered already."""
    mark = f"{DEAD_LETTERED}{message.topic}:{message.partition}"
    through = seen.get(mark)
    if isinstance(through, int) and message.offset <= through:
        ctx.metrics.dead_letters_repeated.labels(topic).inc()
        return
    await _dead_letter(ctx, topic, message, rejection)
    seen[mark] = message.offset


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
        source=message.topic,
    )
    log.info("dead letter %s[%d]@%d: %s", topic, message.partition, message.offset, rejection)
    key = message.key if message.key is None or len(message.key) <= MAX_KEY else None
    await ctx.emit_confirmed(DEAD_LETTERS, key, encode(record))
    ctx.metrics.dead_letters.labels(topic, rejection.code.value).inc()
