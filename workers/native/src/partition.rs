//! Kafka's default partitioner: murmur2 of the key bytes (org.apache.kafka.common.utils.Utils),
//! positive, modulo the partition count. workers/ingest/partitioning.py is the reference (and
//! tests/unit/test_partitioning.py holds both to aiokafka's). Every input record and every
//! output is placed by it; in Python (an LRU cache in front of the hash) a call cost about half
//! a microsecond, most of it cache misses in a cache of 65,536 keys.

const M: u32 = 0x5BD1_E995;
const SEED: u32 = 0x9747_B28C;

pub fn murmur2(data: &[u8]) -> u32 {
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() == 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition of `key` among `partitions` (at least one).
pub fn partition_of(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7FFF_FFFF) % partitions
}
