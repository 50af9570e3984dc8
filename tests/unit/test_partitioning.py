"""Our murmur2 is Kafka's (as aiokafka and the Java client compute it), in Python (the
reference) and native (what places records)."""

from __future__ import annotations

import dealstream_core
import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference
from hypothesis import given
from hypothesis import strategies as st

from workers.ingest.partitioning import expected_partition, murmur2


@given(st.binary(max_size=64))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == reference(key) == dealstream_core.murmur2(key)


@given(st.binary(min_size=1, max_size=64), st.integers(1, 64))
def test_the_partition_is_the_default_partitioners(key: bytes, partitions: int) -> None:
    everything = list(range(partitions))
    assert expected_partition(key, partitions) == DefaultPartitioner()(key, everything, everything)


def test_known_values_of_the_java_client() -> None:
    # Utils.murmur2 of kafka-clients: "21" → -973932308 (an int), "" → 275646681
    assert murmur2(b"21") == -973932308 + (1 << 32)
    assert murmur2(b"") == 275646681
    assert dealstream_core.murmur2(b"21") == -973932308 + (1 << 32)


def test_the_reference_places_as_the_native_partitioner() -> None:
    keys = [f"contact-{n}".encode() for n in range(2000)] + [b"", b"\xff" * 7]
    for partitions in (1, 3, 4, 12, 64):
        expected = [(murmur2(k) & 0x7FFFFFFF) % partitions for k in keys]
        assert [expected_partition(k, partitions) for k in keys] == expected


def test_no_partitions_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="partitions must be at least 1"):
        expected_partition(b"c1", 0)
