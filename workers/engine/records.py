"""What the engine sends: one record shape for outputs and changelog alike."""

from __future__ import annotations

import msgspec

OUTPUT_ID_HEADER = "dealstream-output-id"
OUTPUT_SOURCE_HEADER = "dealstream-source"  # "<engine>:<partition>" whose state it belongs to


class Record(msgspec.Struct, frozen=True, order=True, gc=False):
    """A record for `topic[partition]` (the partition is always chosen before sending). A
    frozen struct: the engine makes one per output and per changelog record, and a struct is
    made in C (a named tuple's constructor is Python: four times as long)."""

    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    output_id: str | None = None  # outputs only: carried in the OUTPUT_ID_HEADER header
    source: str | None = None  # outputs only: carried in the OUTPUT_SOURCE_HEADER header

    @property
    def tp(self) -> str:
        return tp_name(self.topic, self.partition)


def tp_name(topic: str, partition: int) -> str:
    """The checkpoint's name of a topic partition."""
    return f"{topic}:{partition}"


def parse_tp(name: str) -> tuple[str, int]:
    topic, _, partition = name.rpartition(":")
    return topic, int(partition)
