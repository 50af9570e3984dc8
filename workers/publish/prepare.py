"""Pure part of publishing: each line → a keyed message, or an error that names the line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from schemas.catalog import INPUTS_BY_NAME
from workers.ingest.decoder import Decoder
from workers.ingest.errors import Rejection


@dataclass(frozen=True, slots=True)
class Prepared:
    line: int
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    rejection: Rejection

    def __str__(self) -> str:
        return f"line {self.line}: {self.rejection}"


class UnknownTopic(ValueError):
    pass


def prepare(topic: str, lines: Iterable[bytes]) -> list[Prepared | LineError]:
    """Validate every non-blank line against `topic`'s contract and key it by its id field."""
    spec = INPUTS_BY_NAME.get(topic)
    if spec is None:
        known = ", ".join(sorted(INPUTS_BY_NAME))
        raise UnknownTopic(f"{topic!r} is not an input topic of the contract (known: {known})")
    decoder = Decoder(spec)
    out: list[Prepared | LineError] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        key = _key_of(line, spec.key_field)
        result = decoder.decode(key, line)
        if isinstance(result, Rejection):
            out.append(LineError(number, result))
        else:
            out.append(Prepared(number, result.key.encode(), line))
    return out


def _key_of(line: bytes, field: str) -> bytes | None:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    value = obj.get(field) if isinstance(obj, dict) else None
    return value.encode() if isinstance(value, str) else None
