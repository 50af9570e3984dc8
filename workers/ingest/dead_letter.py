"""Building the dead-letter record for an input that could not be used."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import msgspec
import orjson

from schemas.records import DeadLetter, DeadLetterError
from workers.ingest.errors import Rejection

_encoder = msgspec.json.Encoder()

MAX_REQUEST = 1_000_000  # the producer's max_request_size (Faust's default)
OVERHEAD = 16 * 1024  # the dead letter's other fields (key and message are bounded) + framing
PREFIX = 64 * 1024  # what a truncated dead letter keeps of the value
MAX_KEY = 1024


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    rejection: Rejection,
    now: dt.datetime,
    max_request: int = MAX_REQUEST,
    source: str | None = None,
) -> DeadLetter:
    """The dead letter keeps the original bytes (base64) and says why, where and what.

    A value too large to fit in a dead letter (one produce request, `max_request` bytes, with
    base64's third more) keeps its first `PREFIX` bytes, `value_truncated: true`; size and
    SHA-256 of the whole value are always there. The key is cut to `MAX_KEY` characters.
    `source`: the topic actually read (an internal repartition topic), for the id."""
    raw = value or b""
    truncated = len(raw) > inline_limit(max_request)
    kept = raw[:PREFIX] if truncated else raw
    shown_key = key.decode("utf-8", "replace")[:MAX_KEY] if key is not None else None
    return DeadLetter(
        emitted_at=now,
        event_id=own_event_id(raw),
        topic=topic,
        partition=partition,
        offset=offset,
        key=shown_key,
        value=base64.b64encode(kept).decode("ascii"),
        error=DeadLetterError(rejection.code.value, rejection.message[:4000], rejection.path),
        value_size=len(raw),
        value_sha256=hashlib.sha256(raw).hexdigest(),
        value_truncated=truncated,
        dead_letter_id=dead_letter_id(source or topic, partition, offset),
    )


def dead_letter_id(topic: str, partition: int, offset: int) -> str:
    """The same input (topic, partition, offset) always gives the same id."""
    raw = f"{topic}|{partition}|{offset}".encode()
    return "dl_" + hashlib.blake2b(raw, digest_size=12).hexdigest()


def inline_limit(max_request: int = MAX_REQUEST) -> int:
    """The largest value a dead letter carries whole: base64 grows it by a third, and the
    record's other fields and Kafka's framing need room."""
    return max(0, (max_request - OVERHEAD) * 3 // 4)


def encode(record: msgspec.Struct) -> bytes:
    return _encoder.encode(record)


def own_event_id(value: bytes) -> str | None:
    """The input's `event_id`, when it is a JSON object that has a usable one."""
    if len(value) > MAX_REQUEST:
        return None
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    found = obj.get("event_id") if isinstance(obj, dict) else None
    return found if isinstance(found, str) and 0 < len(found) <= 256 else None
