"""The engine's seams on Faust and Kafka: table stores, a batch sender, the outbox read-back.

- Tables stay Faust tables (changelog topics, standbys, recovery, rebalancing are Faust's): the
  engine writes their changelog itself, in partition batches, and writes the local store only
  after the broker confirmed it, with the offset reached (rocksdict persists it, so a restart
  replays only the changelog after it).
- Records go out with aiokafka's `create_batch`/`send_batch`: one request per partition batch,
  no per-record await, no Faust producer buffer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from workers.engine import table_form
from workers.engine.records import OUTPUT_ID_HEADER, OUTPUT_SOURCE_HEADER, Record, tp_name
from workers.interfaces import OutputsSeen, Sent
from workers.kafka_client import client_options
from workers.runtime.tables import iter_partition
from workers.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
_ID = OUTPUT_ID_HEADER
_SOURCE = OUTPUT_SOURCE_HEADER


_json = table_form.encode  # JSON data or msgspec structs (a step's own state)


class FaustTableStore:
    """A Faust table's local store (rocksdict or memory), written by the engine only."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.name: str = table.name
        self.changelog_topic: str = table.changelog_topic.get_topic_name()

    @property
    def _store(self) -> Any:
        return self.table.data

    def get(self, partition: int, key: str) -> Any:
        store = self._store
        if hasattr(store, "_db_for_partition"):
            raw = store._db_for_partition(partition).get(orjson.dumps(key))
            return None if raw is None else orjson.loads(raw)
        return store.data.get(key)

    def encode(self, key: str, value: Any) -> tuple[bytes, bytes | None]:
        return orjson.dumps(key), None if value is None else _json(value)

    def apply(self, partition: int, items: Mapping[str, Any], offset: int | None) -> None:
        store = self._store
        if hasattr(store, "_db_for_partition"):
            import rocksdict

            db = store._db_for_partition(partition)
            batch = rocksdict.WriteBatch(raw_mode=True)
            for key, value in items.items():
                k = orjson.dumps(key)
                if value is None:
                    batch.delete(k)
                else:
                    batch.put(k, _json(value))
                store._key_index[k] = partition
            if offset is not None:  # in the same atomic write: values and offset never disagree
                batch.put(store.offset_key, str(offset).encode())
            db.write(batch)
            return
        for key, value in items.items():  # the memory store holds decoded keys and values
            if value is None:
                store.data.pop(key, None)
                store._key_partition.pop(key, None)
            else:
                store.data[key] = table_form.to_builtins(value)  # JSON data, as Faust reads it
                store._key_partition[key] = partition

    def items(self, partition: int) -> Iterator[tuple[Any, Any]]:
        return iter_partition(self.table, partition)


class KafkaSender:
    """Partition batches through the app's aiokafka producer; delivery awaited once."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def send(self, records: Sequence[Record]) -> Sent:
        if not records:
            return Sent({}, [])
        producer = self.app.producer._ensure_producer()
        groups: dict[tuple[str, int], list[Record]] = {}
        for record in records:
            groups.setdefault((record.topic, record.partition), []).append(record)
        pending: list[tuple[str, list[Record], Any]] = []
        failed: list[Record] = []
        error: BaseException | None = None
        for (topic, partition), group in groups.items():
            try:
                for chunk, batch in _batches(producer, group):
                    future = await producer.send_batch(batch, topic, partition=partition)
                    pending.append((tp_name(topic, partition), chunk, future))
            except Exception as exc:  # metadata or buffer errors: this group is retried
                error = error or exc
                sent = {id(r) for _, c, _ in pending for r in c}
                failed += [r for r in group if id(r) not in sent]
        offsets: dict[str, int] = {}
        results = await asyncio.gather(*(f for _, _, f in pending), return_exceptions=True)
        for (tp, chunk, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                error = error or result
                failed += chunk
            else:
                offsets[tp] = max(offsets.get(tp, -1), result.offset + len(chunk) - 1)
        return Sent(offsets, failed, error)


def _batches(producer: Any, records: list[Record]) -> list[tuple[list[Record], Any]]:
    out: list[tuple[list[Record], Any]] = []
    chunk: list[Record] = []
    batch = producer.create_batch()
    for record in records:
        headers = []
        if record.output_id is not None:
            headers = [(_ID, record.output_id.encode()), (_SOURCE, (record.source or "").encode())]
        while (
            batch.append(key=record.key, value=record.value, timestamp=None, headers=headers)
            is None
        ):
            if not chunk:
                raise ValueError(f"record of {len(record.value or b'')} bytes exceeds a batch")
            out.append((chunk, batch))
            batch, chunk = producer.create_batch(), []
        chunk.append(record)
    if chunk:
        batch.close()
        out.append((chunk, batch))
    return out


class KafkaOutputLog:
    """Reads back the ids of outputs (from their headers), one unattached consumer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._reader: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._partitions: dict[str, list[int]] = {}

    async def ids_since(
        self, starts: Mapping[str, int], topics: Sequence[str], source: str
    ) -> OutputsSeen:
        async with self._lock:  # one read at a time on the shared consumer
            return await self._read(starts, topics, source.encode())

    async def _read(
        self, starts: Mapping[str, int], topics: Sequence[str], source: bytes
    ) -> OutputsSeen:
        reader = await self._started()
        missing = [t for t in topics if not self._partitions.get(t)]
        if missing:
            await self._learn(reader, topics)
        tps = [TopicPartition(t, p) for t in topics for p in self._partitions.get(t, ())]
        ids: set[str] = set()
        ends_seen: dict[str, int] = {}
        if not tps:
            return OutputsSeen(ids, ends_seen)
        reader.assign(tps)
        ends = await reader.end_offsets(tps)
        todo = []
        for tp in tps:
            name = tp_name(tp.topic, tp.partition)
            if ends[tp] > 0:
                ends_seen[name] = ends[tp] - 1
            start = starts.get(name, 0)
            if start < ends[tp]:
                reader.seek(tp, start)
                todo.append(tp)
        while todo:
            batch = await reader.getmany(*todo, timeout_ms=1000)
            for tp, messages in batch.items():
                for m in messages:
                    if m.offset >= ends[tp]:
                        continue
                    headers = dict(m.headers or ())
                    if headers.get(_SOURCE) == source and headers.get(_ID):
                        ids.add(headers[_ID].decode())
            todo = [tp for tp in todo if await reader.position(tp) < ends[tp]]
        return OutputsSeen(ids, ends_seen)

    async def warm(self, topics: Sequence[str]) -> None:
        """Start the reader and learn the topics' partitions ahead of the first read-back."""
        async with self._lock:
            await self._learn(await self._started(), topics)

    async def _learn(self, reader: AIOKafkaConsumer, topics: Sequence[str]) -> None:
        """The partitions of `topics` (a topic not created yet has none, nothing to read)."""
        await reader._client.set_topics(list(topics))  # assign() narrowed what it asks for
        for topic in topics:
            self._partitions[topic] = sorted(reader.partitions_for_topic(topic) or ())

    async def _started(self) -> AIOKafkaConsumer:
        if self._reader is None:
            reader = AIOKafkaConsumer(
                **client_options(self.settings), enable_auto_commit=False, group_id=None
            )
            await reader.start()
            self._reader = reader
        return self._reader

    async def stop(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None


# a decoder per kind: `decode(type=kind)` looks its decoder up at each call
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def decoded(events: Sequence[Any], kind: type[T], what: str) -> Iterator[tuple[Any, T]]:
    """(event, value) of an internal topic's events; a value that does not decode (a bug on
    the sending side, not the CRM's input) is logged and skipped. A value handed over already
    made (`Transaction.emit`'s `made`, in a backtest's shadow: `message.decoded`) is taken as
    it is."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    for event in events:
        made = event.message.decoded
        if type(made) is kind:
            yield event, made
            continue
        try:
            yield event, decoder.decode(event.message.value)
        except msgspec.DecodeError:
            log.exception("bad %s message", what)
