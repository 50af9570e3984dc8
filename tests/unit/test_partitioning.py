"""Our murmur2 is Kafka's (as aiokafka and the Java client compute it)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference
from hypothesis import given
from hypothesis import strategies as st

from workers.ingest.partitioning import expected_partition, murmur2


@given(st.binary(max_size=64))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == reference(key)


@given(st.binary(min_size=1, max_size=64), st.integers(1, 64))
def test_the_partition_is_the_default_partitioners(key: bytes, partitions: int) -> None:
    everything = list(range(partitions))
    assert expected_partition(key, partitions) == DefaultPartitioner()(key, everything, everything)


def test_known_values_of_the_java_client() -> None:
    # Utils.murmur2 of kafka-clients: "21" → -973932308 (an int), "" → 275646681
    assert murmur2(b"21") == -973932308 + (1 << 32)
    assert murmur2(b"") == 275646681
