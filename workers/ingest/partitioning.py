"""Where Kafka's default partitioner puts a key: murmur2 of the key bytes, positive, modulo
the partition count (Java clients, aiokafka, Faust). Producers on librdkafka (kcat,
confluent-kafka, Go/.NET/Node clients) default to CRC32 instead; an entity's events must sit on
the partition murmur2 selects for the joins between topics to meet."""

from __future__ import annotations

from dealstream_core import expected_partition

__all__ = ["expected_partition", "murmur2", "repartition_topic"]

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as an unsigned 32-bit int
    (Java's int of the same bits; the partitioner keeps the low 31 bits either way). The
    reference of the native `expected_partition` (workers/native/src/partition.rs), which
    places every record: `(murmur2(key) & 0x7FFFFFFF) % partitions`."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    full = length - length % 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length % 4
    if rest == 3:
        h ^= data[full + 2] << 16
    if rest >= 2:
        h ^= data[full + 1] << 8
    if rest >= 1:
        h ^= data[full]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def repartition_topic(name: str) -> str:
    """The internal topic that carries a contract topic's misplaced records to their place."""
    return f"dealstream.repartition.{name}"
