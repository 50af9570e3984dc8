"""Building the dead-letter record for an input that could not be used."""

from __future__ import annotations

import base64
import datetime as dt

import msgspec

from schemas.records import DeadLetter, DeadLetterError
from workers.ingest.errors import Rejection

_encoder = msgspec.json.Encoder()


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    rejection: Rejection,
    now: dt.datetime,
) -> DeadLetter:
    """The dead letter keeps the original bytes (base64) and says why, where and what."""
    return DeadLetter(
        emitted_at=now,
        event_id=None,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", "replace") if key is not None else None,
        value=base64.b64encode(value or b"").decode("ascii"),
        error=DeadLetterError(rejection.code.value, rejection.message, rejection.path),
    )


def encode(record: msgspec.Struct) -> bytes:
    return _encoder.encode(record)
