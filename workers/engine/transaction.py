"""One batch's view of an engine's tables, and what the batch will send.

Reads see the batch's own writes first; writes are kept per key (the last one wins), so a key
touched by many inputs of a batch costs one changelog record. Nothing leaves the transaction
until the engine commits it: outputs first, then state, then the checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from workers.engine.errors import UnknownTable
from workers.engine.records import Record
from workers.interfaces import TableStore

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode

Placement = Callable[[str, bytes | None], int]  # (topic, key) -> partition
Sources = Callable[[int], str]  # partition -> the source header of its outputs


class Transaction:
    def __init__(
        self,
        stores: Mapping[str, TableStore],
        place: Placement,
        source: Sources = str,
    ) -> None:
        self._stores = stores
        self._place = place
        self._source = source  # partition -> the source header of its outputs
        self.writes: dict[tuple[str, int], dict[str, Any]] = {}
        self.outputs: list[tuple[int, Record]] = []  # (source partition, record)
        self.inputs: dict[tuple[str, int], int] = {}  # (input topic, partition) -> last offset
        self._after: list[Callable[[], None]] = []
        self._each: dict[Callable[[list[Any]], None], list[Any]] = {}

    def get(self, table: str, partition: int, key: str) -> Any:
        """The value of `key` (None when absent), as this batch left it so far."""
        pending = self.writes.get((table, partition))
        if pending is not None and key in pending:
            return pending[key]
        store = self._stores.get(table)
        if store is None:
            raise UnknownTable(table, list(self._stores))
        return store.get(partition, key)

    def put(self, table: str, partition: int, key: str, value: Any) -> None:
        """Set `key` of `table` in `partition` (None deletes it). Values are JSON data or
        msgspec structs (encoded once, at the commit); `get` returns them as put."""
        pending = self.writes.get((table, partition))
        if pending is None:  # not `setdefault`, which makes a dict at every put
            if table not in self._stores:
                raise UnknownTable(table, list(self._stores))
            pending = self.writes[(table, partition)] = {}
        pending[key] = value

    def emit(
        self,
        source: int,
        topic: str,
        key: bytes | None,
        value: bytes,
        output_id: str,
        partition: int | None = None,
    ) -> None:
        """Send `value` on `topic` once: `output_id` must derive from the cause alone, so that a
        replayed input re-creates the same id (and the engine sends it only if it was lost).
        `source` is the partition whose state the output belongs to."""
        where = self._place(topic, key) if partition is None else partition
        record = Record(topic, where, key, value, output_id, self._source(source))
        self.outputs.append((source, record))

    def emit_made(
        self,
        source: int,
        topic: str,
        key: bytes | None,
        made: msgspec.Struct,
        output_id: str,
        partition: int | None = None,
    ) -> None:
        """`emit` of the record `made`, as its JSON: for an internal topic that an agent of
        this process reads. A backtest's shadow hands the record itself to that agent, and
        makes the JSON only if something reads it (workers/backtest/shadow.py)."""
        self.emit(source, topic, key, _encode(made), output_id, partition)

    def applied(self, topic: str, partition: int, offset: int) -> None:
        """Record that the input at `offset` of `topic[partition]` is part of this batch
        (inputs come in offset order per partition: the last one is the highest). The engine
        marks a batch's inputs in `inputs` itself, without a call each."""
        self.inputs[(topic, partition)] = offset

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the batch is committed (metrics, caches, the Redis view)."""
        self._after.append(action)

    def after_commit_each(self, action: Callable[[list[Any]], None], item: Any) -> None:
        """Run `action` once the batch is committed, with every `item` given for it in the
        batch, in order (one call a batch, where `after_commit` would make one a re-score)."""
        items = self._each.get(action)
        if items is None:
            items = self._each[action] = []
            self._after.append(lambda: action(items))
        items.append(item)

    def committed(self) -> None:
        """Run the after-commit actions. The batch is committed whatever they do: one that
        fails is logged, and the others still run (the inputs are acknowledged next)."""
        for action in self._after:
            try:
                action()
            except Exception:
                log.exception("after the commit of a batch")
        self._after.clear()
        self._each.clear()

    @property
    def partitions(self) -> set[int]:
        touched = {p for _, p in self.writes} | {p for p, _ in self.outputs}
        return touched | {p for _, p in self.inputs}


TransactionFactory = Callable[[Mapping[str, TableStore], Placement, Sources], Transaction]
