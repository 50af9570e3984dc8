"""The state engine: every stateful feature runs its inputs through one `Engine.run`.

A batch is committed in this order, each step confirmed by the broker before the next:

1. **outputs** (the outbox): every output carries a deterministic id and the source partition
   whose state it belongs to; an id already delivered (read back after an assignment) is not
   sent again;
2. **state**: one changelog record per touched key, in partition batches;
3. **checkpoint** of each touched partition: how far its outputs are reflected in its state,
   the ids delivered but not yet re-derived by a replay (`carry`), and the last offset applied
   of each input topic partition (`inputs`: an input at or below it is skipped when it comes
   again, so a committed batch's inputs re-derive nothing, stateless forwards included).

Only then are the local stores written and the batch's inputs acknowledged (by the caller), so
the committed input offset never passes an input whose effects could be lost. A crash between
1 and 2 leaves delivered outputs the state does not reflect: the partition's next owner reads
back the outputs after the checkpoint, and the replayed inputs, which re-derive the same ids,
send nothing twice. One lock per engine: a table has one writer, whatever agent feeds it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import msgspec

from workers.engine.errors import PartitionMoved
from workers.engine.records import Record, tp_name
from workers.engine.transaction import Placement, Transaction, TransactionFactory
from workers.interfaces import OutputLog, RecordSender, TableStore

log = logging.getLogger(__name__)

CARRY_TTL = 86400.0  # a delivered output no replay re-derived is forgotten after a day
Work = Callable[[Transaction], Awaitable[None] | None]


class BatchStats(msgspec.Struct, frozen=True, gc=False):  # one a batch: a struct is made in C
    outputs: int  # sent
    suppressed: int  # delivered before (read back): not sent again
    writes: int  # changelog records of state
    seconds: float


class Input(Protocol):
    """An input record of a batch (a Faust message, an `Arrival`)."""

    topic: str
    partition: int
    offset: int


InputT = TypeVar("InputT", bound=Input)


@dataclass
class EngineIO:
    """What an engine talks to (Kafka and Faust's stores in a worker; doubles in tests)."""

    stores: Mapping[str, TableStore]
    sender: RecordSender
    output_log: OutputLog
    place: Placement  # (topic, key) -> partition
    owns: Callable[[int], bool]  # is this source partition still assigned here?
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    on_retry: Callable[[BaseException], None] = lambda error: None
    epoch: Callable[[], int] = lambda: 0  # the consumer generation: it changes on a rebalance
    on_committed: Callable[[BatchStats], None] = lambda stats: None  # every committed batch
    # False where the stores are the memory itself and nothing restarts (a backtest's shadow):
    # a batch sends its outputs and writes its stores, and makes no changelog or checkpoint
    changelog: bool = True
    # what a batch reads and writes through (a shadow's writes its stores as it goes)
    transaction: TransactionFactory = Transaction


class Engine:
    def __init__(
        self, name: str, io: EngineIO, checkpoints: str, output_topics: Sequence[str]
    ) -> None:
        self.name = name
        self.io = io
        self.checkpoints = checkpoints  # the table holding "<name>:<partition>" checkpoints
        self.legacy_checkpoints: str | None = None  # where an older version kept them (read only)
        self.output_topics = list(output_topics)
        self.lock = asyncio.Lock()
        self.verified: set[int] = set()
        self.sent: dict[int, dict[str, float]] = {}  # delivered ids a replay may re-derive
        self.high: dict[str, int] = {}  # last offset per output partition, delivered or seen
        self.applied: dict[int, dict[str, int]] = {}  # partition -> input tp -> last offset
        self._sources: dict[int, str] = {}
        self._resets: dict[int, int] = {}  # partition -> how many times it was reset

    # --- assignment -------------------------------------------------------------------------
    def reset(self, partitions: Collection[int]) -> None:
        """Partitions revoked or (re)assigned: read back their outputs before their next batch."""
        for partition in partitions:
            self._resets[partition] = self._resets.get(partition, 0) + 1
            self.verified.discard(partition)
            self.sent.pop(partition, None)
            self.applied.pop(partition, None)

    def source(self, partition: int) -> str:
        found = self._sources.get(partition)
        if found is None:
            found = self._sources[partition] = f"{self.name}:{partition}"
        return found

    def checkpoint_key(self, partition: int) -> str:
        return self.source(partition)

    def scan(self, table: str, partition: int) -> Iterator[tuple[Any, Any]]:
        """The committed rows of `table` (one of this engine's) in `partition`: what a feature
        rebuilds its in-memory index from after an assignment."""
        return self.io.stores[table].items(partition)

    async def _verify(self, partition: int) -> None:
        started = time.perf_counter()
        saved = self.io.stores[self.checkpoints].get(partition, self.checkpoint_key(partition))
        if saved is None and self.legacy_checkpoints is not None:  # written by an older version
            legacy = self.io.stores[self.legacy_checkpoints]
            saved = legacy.get(partition, self.checkpoint_key(partition))
        saved = saved if isinstance(saved, dict) else {}
        outputs = {str(k): int(v) for k, v in (saved.get("outputs") or {}).items()}
        carry = {str(k): float(v) for k, v in (saved.get("carry") or {}).items()}
        starts = {tp: offset + 1 for tp, offset in outputs.items()}
        resets = self._resets.get(partition, 0)
        seen = await self._retrying(
            lambda: self.io.output_log.ids_since(
                starts, self.output_topics, self.source(partition)
            ),
            {partition},
        )
        if self._resets.get(partition, 0) != resets:
            # revoked or assigned while it was read back: what was read is of the owner before
            # (a batch that touches nothing of it would otherwise leave it verified on that)
            raise PartitionMoved(f"{self.name}: partition {partition} moved during its read-back")
        now = self.io.clock()
        self.sent[partition] = carry | {output_id: now for output_id in seen.ids}
        inputs = saved.get("inputs") or {}
        self.applied[partition] = {str(k): int(v) for k, v in inputs.items()}
        for tp, offset in {**outputs, **seen.ends}.items():
            self.high[tp] = max(self.high.get(tp, -1), offset)
        self.verified.add(partition)
        log.info(
            "%s: partition %d verified in %.3f s (%d outputs to not resend)",
            self.name, partition, time.perf_counter() - started, len(self.sent[partition]),
        )  # fmt: skip

    # --- one batch --------------------------------------------------------------------------
    async def run_inputs(
        self, events: Sequence[InputT], handle: Callable[[list[InputT]], Work]
    ) -> tuple[BatchStats | None, list[InputT]]:
        """One poll of this engine's inputs: the work `handle` makes of them, committed, except
        the inputs a committed batch already applied (the checkpoint of their partition holds
        the last offset applied per input topic partition). Faust replays offsets it had not
        committed yet, after a crash or a rebalance: those inputs change nothing and re-derive
        nothing, not even a forward on an internal topic. Returns the batch's stats (None when
        every input was applied before) and the inputs skipped."""
        async with self.lock:
            epoch = self.io.epoch()
            partitions = {e.partition for e in events}
            await self._verify_each(partitions)
            fresh: list[InputT] = []
            skipped: list[InputT] = []
            marks: dict[tuple[str, int], int | None] = {}  # the last applied, per input partition
            applied = self.applied
            for event in events:
                tp = (event.topic, event.partition)
                if tp in marks:
                    done = marks[tp]
                else:
                    done = marks[tp] = applied[tp[1]].get(tp_name(*tp))
                (skipped if done is not None and event.offset <= done else fresh).append(event)
            if not fresh:
                return None, skipped
            work = handle(fresh)

            def applying(tx: Transaction) -> Awaitable[None] | None:
                inputs = tx.inputs  # `tx.applied` of each, without a call each
                for event in fresh:
                    inputs[(event.topic, event.partition)] = event.offset
                return work(tx)

            return await self._run(partitions, applying, epoch), skipped

    async def run(self, partitions: Collection[int], work: Work) -> BatchStats:
        """Run `work` (no input records: a tick) for `partitions`, then commit it."""
        async with self.lock:
            epoch = self.io.epoch()
            await self._verify_each(set(partitions))
            return await self._run(partitions, work, epoch)

    async def _verify_each(self, partitions: Collection[int]) -> None:
        if self.verified.issuperset(partitions):
            return
        for partition in sorted(partitions):
            if partition not in self.verified:
                await self._verify(partition)

    async def _run(self, partitions: Collection[int], work: Work, epoch: int) -> BatchStats:
        """Under the lock, every partition verified since `epoch` was read."""
        started = time.perf_counter()
        tx = self.io.transaction(self.io.stores, self.io.place, self.source)
        done = work(tx)
        if done is not None:  # an awaitable (`Work`)
            await done
        partitions = tx.partitions
        for partition in partitions - self.verified:  # wrote to a partition not verified
            await self._verify(partition)
        if self.io.changelog:
            stats = await self._commit(tx, partitions, started, epoch)
        else:
            stats = await self._commit_in_memory(tx, partitions, started, epoch)
        tx.committed()
        self.io.on_committed(stats)
        return stats

    async def _commit(
        self, tx: Transaction, partitions: set[int], started: float, epoch: int
    ) -> BatchStats:
        """A rebalance during the batch gives it up before its next step: the partitions may be
        recovering from their changelog already, which the batch's local writes would race (an
        older changelog value written over a newer one); the inputs come again from the
        committed offset."""
        self._check(partitions, epoch, "before its outputs")
        outputs, suppressed = self._outbox(tx)
        delivered = await self._send(outputs, partitions)
        for tp, offset in delivered.items():
            self.high[tp] = max(self.high.get(tp, -1), offset)
        changelog: list[Record] = []
        for (table, partition), items in tx.writes.items():
            store = self.io.stores[table]
            for key, value in items.items():
                k, v = store.encode(key, value)
                changelog.append(Record(store.changelog_topic, partition, k, v))
        self._check(partitions, epoch, "after its outputs")
        written = await self._send(changelog, partitions)
        checkpoint, applied = self._checkpoints(tx)
        self._check(partitions, epoch, "after its state")
        written |= await self._send(self._encoded(checkpoint), partitions)
        self._check(partitions, epoch, "after its checkpoint")  # no await from here on: one step
        for (table, partition), items in [*tx.writes.items(), *checkpoint.items()]:
            store = self.io.stores[table]
            store.apply(partition, items, written.get(tp_name(store.changelog_topic, partition)))
        self.applied.update(applied)
        return BatchStats(len(outputs), suppressed, len(changelog), time.perf_counter() - started)

    async def _commit_in_memory(
        self, tx: Transaction, partitions: set[int], started: float, epoch: int
    ) -> BatchStats:
        """The outputs, then the stores: what `_commit` does where nothing is made durable."""
        self._check(partitions, epoch, "before its outputs")
        outputs, suppressed = self._outbox(tx)
        await self._send(outputs, partitions)
        self._check(partitions, epoch, "after its outputs")
        for (table, partition), items in tx.writes.items():
            self.io.stores[table].apply(partition, items, None)
        for (topic, source), offset in tx.inputs.items():
            self.applied.setdefault(source, {})[tp_name(topic, source)] = offset
        return BatchStats(len(outputs), suppressed, 0, time.perf_counter() - started)

    def _outbox(self, tx: Transaction) -> tuple[list[Record], int]:
        outputs: list[Record] = []
        suppressed = 0
        for source, record in tx.outputs:
            sent = self.sent.get(source)
            if sent and record.output_id in sent:
                del sent[record.output_id]  # re-derived: the state will reflect it from now on
                suppressed += 1
                continue
            outputs.append(record)
        return outputs, suppressed

    def _checkpoints(
        self, tx: Transaction
    ) -> tuple[dict[tuple[str, int], dict[str, Any]], dict[int, dict[str, int]]]:
        """Every touched partition's outputs are all delivered and reflected in its state (or
        in `carry`) up to the engine's high marks, and its inputs applied up to `inputs`."""
        now = self.io.clock()
        result, applied = {}, {}
        for partition in tx.partitions:
            sent = self.sent.get(partition, {})
            for output_id in [i for i, at in sent.items() if at < now - CARRY_TTL]:
                del sent[output_id]
            inputs = applied[partition] = dict(self.applied.get(partition, {}))
            for (topic, source), offset in tx.inputs.items():
                if source == partition:
                    inputs[tp_name(topic, source)] = offset
            value = {"outputs": dict(self.high), "carry": dict(sent), "inputs": inputs}
            result[(self.checkpoints, partition)] = {self.checkpoint_key(partition): value}
        return result, applied

    def _encoded(self, checkpoint: dict[tuple[str, int], dict[str, Any]]) -> list[Record]:
        store = self.io.stores[self.checkpoints]
        records = []
        for (_, partition), items in checkpoint.items():
            for key, value in items.items():
                k, v = store.encode(key, value)
                records.append(Record(store.changelog_topic, partition, k, v))
        return records

    async def _send(self, records: Sequence[Record], partitions: Collection[int]) -> dict[str, int]:
        """Send and confirm all of `records`, retrying what the broker did not confirm while
        the partitions are still ours (PartitionMoved when one is not)."""
        offsets: dict[str, int] = {}
        pending = list(records)
        delay = 0.2
        while pending:
            sent = await self.io.sender.send(pending)
            for tp, offset in sent.offsets.items():
                offsets[tp] = max(offsets.get(tp, -1), offset)
            pending = sent.failed
            if pending:
                self._still_owned(partitions, sent.error)
                self.io.on_retry(sent.error or RuntimeError("not confirmed"))
                await self.io.sleep(delay)
                delay = min(delay * 2, 5.0)
        return offsets

    async def _retrying(self, call: Callable[[], Awaitable[Any]], partitions: set[int]) -> Any:
        delay = 0.2
        retry: BaseException
        while True:
            try:
                return await call()
            except (OSError, TimeoutError) as error:
                retry = error
            except Exception as error:  # a broker error (aiokafka's KafkaError and kin)
                if not _is_infrastructure(error):
                    raise
                retry = error
            self._still_owned(partitions, retry)
            self.io.on_retry(retry)
            await self.io.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _check(self, partitions: Collection[int], epoch: int, step: str) -> None:
        """`step`, in the log when the batch is given up: what of it the broker has."""
        if self.io.epoch() != epoch:
            self.reset(list(partitions))
            raise PartitionMoved(
                f"{self.name}: a rebalance during the batch of partitions {sorted(partitions)}; "
                f"it is given up {step}"
            )
        self._still_owned(partitions, None, step)

    def _still_owned(
        self, partitions: Collection[int], error: BaseException | None, step: str = "sending"
    ) -> None:
        owns = self.io.owns
        for partition in partitions:
            if not owns(partition):
                break
        else:
            return  # every one is still owned
        gone = sorted(p for p in partitions if not owns(p))
        if gone:
            self.reset(gone)
            cause = f" ({error})" if error is not None else ""
            raise PartitionMoved(
                f"{self.name}: partitions {gone} are no longer this worker's (a rebalance or a "
                f"stop); the batch is given up {step}{cause}"
            )


async def settle(engines: Iterable[Engine]) -> None:
    """Wait until none of `engines` runs a batch (`Engine.lock.locked()` names those still
    running when the caller's timeout ends it). Called once the worker owns nothing any more
    (partitions about to be revoked, or the worker stopping): a running batch gives itself
    up at its next step, so this waits at most for the broker to confirm what the batch was
    sending. Until then, its records could land after another worker had restored and
    verified the batch's partitions."""
    for engine in engines:
        async with engine.lock:
            pass


def _is_infrastructure(error: BaseException) -> bool:
    """Broker and connection errors, by their module (the engine imports no client)."""
    module = type(error).__module__ or ""
    return module.startswith(("aiokafka", "kafka", "redis"))
