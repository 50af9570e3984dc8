"""Time-in-stage triggers in Faust: the opportunity table, ticks, and exactly-once firings.

- `crm.opportunities` events update the `opportunities` table (the durable schedule: stage
  visit, marks of what fired) through the pure core in `workers.triggers`.
- A timer on every worker sends a tick to each partition of the ticks topic it owns; the
  ticks topic is co-partitioned with `crm.opportunities`, so the agent that handles tick `p`
  may write the table rows of partition `p`. It pops what is due from an in-memory index
  (built once per assignment from the table, kept current on every change).
- No duplicate, no loss: a firing is sent to partition `p` of `crm.trigger-firings` and its
  mark is kept only after the broker confirmed delivery. Marks reach the table after a burst
  (on quiet ticks), and the partition's checkpoint moves only when all are written. A crash
  before that leaves delivered firings without marks in the table; before the first tick of
  an assignment, the firings delivered after the checkpoint are read back and their marks
  restored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.records import OpportunityEvent, StageMove
from workers.automation.stage_moves import firing_move, make_move, with_pending
from workers.engine.transaction import Transaction
from workers.ingest.decoder import Decoded
from workers.pipeline.book import PipelineBook, PipelineConfig
from workers.pipeline.report import build_report
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.engines import Engines
from workers.runtime.read_back import ReadBack
from workers.runtime.tables import iter_partition, json_table
from workers.runtime.ticks import Ticks
from workers.triggers.due_index import DueIndex
from workers.triggers.durations import parse_duration
from workers.triggers.evaluate import Evaluation, evaluate, next_due
from workers.triggers.firing import firing_id, make_firing
from workers.triggers.opportunity import OpportunityState, apply_event, from_table, to_table
from workers.triggers.plan import TriggerSet
from workers.triggers.schedule import Mark

if TYPE_CHECKING:
    from workers.runtime.move_agents import MoveRuntime

log = logging.getLogger(__name__)

GROUP = "opportunities"  # the engine
FIRINGS = "crm.trigger-firings"
CHECKPOINT = "__firings_checkpoint__:{}"
SCAN_CHUNK = 2000
FLUSH_CHUNK = 500  # deferred marks written per quiet tick
MAX_DEFERRED = 50_000  # beyond this, write them at once
_encode = msgspec.json.Encoder().encode


class TriggerRuntime:
    def __init__(self, ctx: AppContext, engines: Engines, ticks: Ticks) -> None:
        self.ctx = ctx
        app, settings = ctx.app, ctx.settings
        self.engine = engines.engine(GROUP)
        rules = ctx.rules
        self.triggers = TriggerSet.from_rules(rules.triggers)
        self.inactivity_ids = {t.id for t in self.triggers.all if t.inactivity}
        self.moves: MoveRuntime | None = None  # stage automation, when built
        self.grace = parse_duration(rules.scheduler.catch_up_grace)
        self.table = engines.table(
            GROUP, json_table(app, settings, "opportunities", "Opportunity state and schedule")
        )
        self.firings_topic = settings.topic(FIRINGS)
        self.indexes: dict[int, DueIndex] = {}
        self.pipeline_config = PipelineConfig.from_rules(rules.pipelines, rules.analytics.window)
        self.books: dict[int, PipelineBook] = {}
        self._touched: set[str] = set()  # opportunities changed while firings were in flight
        self.deferred: dict[int, dict[str, OpportunityState]] = {}  # marks not yet in the table
        self.delivered_through: dict[int, int] = {}  # last delivered firing offset per partition
        self.batch_limit = 1000  # due opportunities per partition per tick: partitions take turns
        self.open_counts: dict[int, Counter[tuple[str, str]]] = {}
        self.read_back = ReadBack(settings)
        ctx.metrics.before_render.append(self._refresh_gauges)
        ticks.subscribe("triggers", self._process_due, self._reset)

    def reload(self, rules: Rules) -> None:
        """New rules in force: schedules are re-derived from the table on the next tick of each
        partition (a changed `every` re-plans without re-firing; marks stay)."""
        self.triggers = TriggerSet.from_rules(rules.triggers)
        self.inactivity_ids = {t.id for t in self.triggers.all if t.inactivity}
        self.grace = parse_duration(rules.scheduler.catch_up_grace)
        self.pipeline_config = PipelineConfig.from_rules(rules.pipelines, rules.analytics.window)
        self.indexes.clear()

    # --- opportunity events (a step of the opportunities engine) -----------------------------
    def on_opportunity(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        opportunity: OpportunityEvent = decoded.event  # type: ignore[assignment]
        key = decoded.key
        written = tx.writes.get((self.table.name, partition), {})
        old = from_table(written[key]) if key in written else self.state(partition, key, tx)
        new = apply_event(old, opportunity, partition)
        if new is None:
            return
        tx.put(self.table.name, partition, key, to_table(new))
        tx.after_commit(lambda: self._stored(partition, key, old, new))

    def _stored(
        self, partition: int, key: str, old: OpportunityState | None, new: OpportunityState
    ) -> None:
        self.deferred.get(partition, {}).pop(key, None)  # the new state supersedes its marks
        self._touched.add(key)
        index = self.indexes.get(partition)
        if index is not None:
            index.set(key, next_due(new, self.triggers))
        self._count(partition, old, new)
        book = self.books.get(partition)
        if book is not None:
            book.apply(new)

    def store(self, partition: int, key: str, new: OpportunityState) -> None:
        """Write an opportunity's new state (from a buyer action) and reschedule it."""
        self.table[key] = to_table(new)
        self.deferred.get(partition, {}).pop(key, None)
        self._touched.add(key)
        index = self.indexes.get(partition)
        if index is not None:
            index.set(key, next_due(new, self.triggers))

    # --- ticks ------------------------------------------------------------------------------
    async def _process_due(self, partition: int) -> None:
        """Under the opportunities engine's lock: the table has one writer at a time."""
        await self.engine.run({partition}, lambda tx: self._due(partition))

    async def _due(self, partition: int) -> None:
        index = self.indexes.get(partition)
        if index is None:
            index = await self._build_index(partition)
        now = self.ctx.clock.now()
        keys = index.pop_due(now.timestamp(), limit=self.batch_limit)
        if not keys:
            self._flush_marks(partition, FLUSH_CHUNK)  # quiet moment: write deferred marks
            return
        self._touched.clear()
        pending: list[tuple[str, OpportunityState, list[Any], Any]] = []
        moves: list[StageMove] = []
        for key in keys:
            state = self.state(partition, key)
            if state is None:
                continue
            result = evaluate(state, self.triggers, now, self.grace)
            records = [make_firing(t, result.state, due, now) for t, due in result.firings]
            moves += self._moves_of(result, records, now)
            pending.append((key, result.state, records, result))
        futures = []
        for key, _, records, _ in pending:
            for record in records:
                futures.append(
                    await self.ctx.app.producer.send(
                        self.firings_topic, key.encode(), _encode(record), partition, None, None
                    )
                )
        try:
            if self.moves is not None:  # a move is confirmed before the firing that caused it
                await self.moves.send(partition, moves)
            delivered = await asyncio.gather(*futures)
        except Exception:
            for key in keys:  # not confirmed: nothing is marked, the next tick tries again
                state = self.state(partition, key)
                if state is not None:
                    index.set(key, next_due(state, self.triggers))
            raise
        metrics = self.ctx.metrics
        deferred = self.deferred.setdefault(partition, {})
        for key, evaluated, records, result in pending:
            if key not in self._touched:  # the common case: nothing changed meanwhile
                if result.changed:
                    deferred[key] = evaluated  # written after the burst (see _flush_marks)
                index.set(key, result.next_due)
            else:
                current = from_table(self.table.get(key))
                if current is not None and current.visit == evaluated.visit and result.changed:
                    current = msgspec.structs.replace(
                        current, marks=evaluated.marks, pending_move=evaluated.pending_move
                    )
                    self.table[key] = to_table(current)
                if current is not None:
                    index.set(key, next_due(current, self.triggers))
            for trigger_id, count in result.skipped.items():
                metrics.trigger_periods_skipped.labels(trigger_id).inc(count)
            for record in records:
                metrics.trigger_firings.labels(record.trigger_id).inc()
                metrics.trigger_lateness.observe((now - record.due_at).total_seconds())
        if delivered:
            offset = max(md.offset for md in delivered)
            self.delivered_through[partition] = max(
                self.delivered_through.get(partition, -1), offset
            )
        if len(deferred) > MAX_DEFERRED:
            self._flush_marks(partition, len(deferred))

    def _moves_of(
        self, result: Evaluation, records: list[Any], now: dt.datetime
    ) -> list[StageMove]:
        """The stage moves asked by firings whose action has `move_to` (pending in the state)."""
        moves = []
        for (trigger, _), record in zip(result.firings, records, strict=True):
            state = result.state
            to = trigger.move_to
            if self.moves is None or to is None or to == state.stage_id:
                continue
            move = firing_move(trigger.id, state.opportunity_id, record.firing_id, to)
            if move.move_id in state.asked_moves:
                continue  # confirmed before a crash: not again
            cause: dict[str, str | float | None] = {
                "type": "trigger_firing",
                "firing_id": record.firing_id,
                "trigger_id": trigger.id,
                "period": record.period,
            }
            moves.append(make_move(state, move, cause, record.event_id, now))
            result.state = with_pending(state, move, now.timestamp())
            result.changed = True
        return moves

    def state(
        self, partition: int, key: str, tx: Transaction | None = None
    ) -> OpportunityState | None:
        """The opportunity's state, with marks not yet written to the table."""
        deferred = self.deferred.get(partition)
        if deferred and key in deferred:
            return deferred[key]
        if tx is not None:
            return from_table(tx.get(self.table.name, partition, key))
        return from_table(self.table.get(key))

    def _flush_marks(self, partition: int, limit: int) -> None:
        """Write deferred marks; once none is left, move the read-back checkpoint forward.

        Marks are deferred so that a burst of firings pays only for sending them: a crash
        before they are written is covered by reading back the firings after the checkpoint.
        """
        deferred = self.deferred.get(partition, {})
        for key in list(deferred)[:limit]:
            self.table[key] = to_table(deferred.pop(key))
        if not deferred and partition in self.delivered_through:
            offset = self.delivered_through.pop(partition)
            self.table[CHECKPOINT.format(partition)] = {"offset": offset}
        if not deferred and self.moves is not None:
            self.moves.checkpoint(partition)

    # --- assignment: rebuild the index, restore marks of delivered firings ------------------
    async def _build_index(self, partition: int) -> DueIndex:
        index = DueIndex()
        self.indexes[partition] = index  # live updates land here while we scan
        try:
            return await self._fill_index(partition, index)
        except BaseException:  # half an index would leave the rest unscheduled: next tick anew
            if self.indexes.get(partition) is index:
                del self.indexes[partition]
            raise

    async def _fill_index(self, partition: int, index: DueIndex) -> DueIndex:
        if self.moves is not None:
            await self.moves.reconcile(partition)
        await self._reconcile(partition)
        counts: Counter[tuple[str, str]] = Counter()
        book = self.books[partition] = PipelineBook(self.pipeline_config)
        seen = 0
        for key, raw in iter_partition(self.table, partition):
            seen += 1
            if seen % SCAN_CHUNK == 0:
                await asyncio.sleep(0)
            if not isinstance(key, str) or key.startswith("__") or not isinstance(raw, dict):
                continue
            state = from_table(raw)
            if state is None or state.partition != partition:
                continue
            book.apply(state)
            if state.is_open:
                counts[(state.pipeline_id, state.stage_id)] += 1
            if index.due_at(key) is None:
                index.set(key, next_due(state, self.triggers))
        self.open_counts[partition] = counts
        log.info("partition %d: %d opportunities, %d scheduled", partition, seen, len(index))
        return index

    async def _reconcile(self, partition: int) -> None:
        checkpoint = self.table.get(CHECKPOINT.format(partition)) or {}
        start = int(checkpoint.get("offset", -1)) + 1
        end = await self.read_back.end_offset(self.firings_topic, partition)
        if start >= end:
            return
        restored = 0
        async for value in self.read_back.between(self.firings_topic, partition, start, end):
            if self._restore_mark(value):
                restored += 1
        log.info(
            "partition %d: read firings %d..%d, restored %d marks", partition, start, end, restored
        )
        self.table[CHECKPOINT.format(partition)] = {"offset": end - 1}

    def _restore_mark(self, value: bytes) -> bool:
        try:
            firing = msgspec.json.decode(value)
            key = firing["opportunity_id"]
            state = from_table(self.table.get(key))
            trigger = next((t for t in self.triggers.all if t.id == firing["trigger_id"]), None)
        except (msgspec.DecodeError, KeyError, TypeError):
            return False
        if state is None or trigger is None:
            return False
        period = int(firing["period"])
        silence = state.silence(trigger.inactivity)
        if firing_id(trigger, key, silence, period) != firing["firing_id"]:
            return False  # another visit, silence period or plan: nothing to restore
        mark = state.mark(trigger.id)
        if mark is not None and mark.plan == trigger.plan and mark.through >= period:
            return False
        start = dt.datetime.fromtimestamp(state.anchor(trigger.inactivity), dt.UTC)
        due = trigger.due_at(start, period).timestamp()
        self.table[key] = to_table(state.with_mark(trigger.id, Mark(trigger.plan, period, due)))
        return True

    def _reset(self, partitions: set[int]) -> None:
        # Revoked, or assigned (it may have changed elsewhere): rebuild on its first tick.
        for partition in partitions:
            self.indexes.pop(partition, None)
            self.open_counts.pop(partition, None)
            self.books.pop(partition, None)
            # marks not yet written are restored by the read-back from the checkpoint
            self.deferred.pop(partition, None)
            self.delivered_through.pop(partition, None)
        if self.moves is not None:
            self.moves.reset(partitions)

    # --- metrics ----------------------------------------------------------------------------
    def _count(self, partition: int, old: OpportunityState | None, new: OpportunityState) -> None:
        counts = self.open_counts.get(partition)
        if counts is None:
            return
        if old is not None and old.is_open:
            counts[(old.pipeline_id, old.stage_id)] -= 1
        if new.is_open:
            counts[(new.pipeline_id, new.stage_id)] += 1

    def _refresh_gauges(self) -> None:
        metrics = self.ctx.metrics
        self._pipeline_gauges()
        metrics.pending_timers.set(sum(len(i) for i in self.indexes.values()))
        total: Counter[tuple[str, str]] = Counter()
        for counts in self.open_counts.values():
            total.update(counts)
        metrics.open_opportunities.clear()
        for (pipeline, stage), value in total.items():
            metrics.open_opportunities.labels(pipeline, stage).set(value)

    def pipeline_report(self) -> dict[str, Any]:
        """The live figures of this worker's partitions (see workers/pipeline/report.py)."""
        report = build_report(
            self.books.values(), self.pipeline_config, self.ctx.clock.now().timestamp()
        )
        report["partitions"] = sorted(self.books)
        return report

    def _pipeline_gauges(self) -> None:
        """Summable parts per pipeline and stage; ratios are PromQL recording rules."""
        m = self.ctx.metrics
        for gauge in (
            m.pipeline_open_deals,
            m.pipeline_open_value,
            m.pipeline_weighted_forecast,
            m.pipeline_stuck_deals,
            m.pipeline_closed_deals,
            m.pipeline_won_value,
            m.pipeline_cycle_seconds_sum,
            m.pipeline_stage_seconds_sum,
            m.pipeline_stage_visits,
        ):
            gauge.clear()
        report = self.pipeline_report()
        for p in report["pipelines"]:
            name = p["pipeline"]
            for s in p["stages"]:
                m.pipeline_open_deals.labels(name, s["stage"]).set(s["open_deals"])
                m.pipeline_open_value.labels(name, s["stage"]).set(s["open_value"])
                m.pipeline_weighted_forecast.labels(name, s["stage"]).set(s["weighted_forecast"])
                m.pipeline_stuck_deals.labels(name, s["stage"]).set(s["stuck_deals"])
            m.pipeline_closed_deals.labels(name, "won").set(p["won"])
            m.pipeline_closed_deals.labels(name, "lost").set(p["lost"])
            m.pipeline_won_value.labels(name).set(p["won_value"])
            cycle = p["cycle_days"]
            m.pipeline_cycle_seconds_sum.labels(name).set(
                (cycle["mean"] or 0) * cycle["count"] * 86400
            )
        for book in self.books.values():
            for (pipeline, stage), (total, count) in book.stage_time.items():
                m.pipeline_stage_seconds_sum.labels(pipeline, stage).inc(total)
                m.pipeline_stage_visits.labels(pipeline, stage).inc(count)
