"""A table store in a dict, for an engine that runs in process (a backtest's shadow worker;
the tests' double adds a restore from the changelog). Values are kept as the JSON store reads
them back: plain builtins, whatever the handler put."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from workers.engine import table_form

_encode = table_form.encode
_decode = msgspec.json.decode


@dataclass
class MemoryStore:
    """{partition: {key: value}}; `offsets`: the changelog offset applied last, per partition."""

    name: str
    data: dict[int, dict[str, Any]] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)
    changelog_topic: str = ""

    def __post_init__(self) -> None:
        self.changelog_topic = self.changelog_topic or f"{self.name}-changelog"

    def get(self, partition: int, key: str) -> Any:
        data = self.data.get(partition)
        return None if data is None else data.get(key)

    def encode(self, key: str, value: Any) -> tuple[bytes, bytes | None]:
        return orjson.dumps(key), None if value is None else _encode(value)

    def apply(self, partition: int, items: Mapping[str, Any], offset: int | None) -> None:
        data = self.data.setdefault(partition, {})
        for key, value in items.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = _decode(_encode(value))  # JSON, like the real one
        if offset is not None:
            self.offsets[partition] = offset

    def items(self, partition: int) -> Iterator[tuple[str, Any]]:
        return iter(list(self.data.get(partition, {}).items()))
