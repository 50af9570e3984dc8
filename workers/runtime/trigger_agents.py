"""Time-in-stage triggers on the `opportunities` engine: the opportunity table, ticks, firings.

- `crm.opportunities` events update the `opportunities` table (the durable schedule: stage
  visit, marks of what fired) through the pure core in `workers.triggers`.
- A timer on every worker sends a tick to each partition of the ticks topic it owns; the
  ticks topic is co-partitioned with `crm.opportunities`, so the tick of partition `p` may
  change the table rows of `p`. It pops what is due from an in-memory index (built once per
  assignment from the table, kept current on every change) and evaluates it in one batch of
  the engine: the firings (output id: the `firing_id`) and the moves they ask (the `move_id`)
  go to partition `p` of `crm.trigger-firings` and `crm.stage-moves`, and the marks of what
  fired are the batch's state. The engine delivers both once (docs/design.md): a crash before
  the marks are written replays the tick, which re-derives the same ids and sends none twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any

import msgspec

from schemas.records import OpportunityEvent, StageMove, TriggerFiring
from workers.automation.stage_moves import MOVES, firing_move, make_move, with_pending
from workers.engine.transaction import Transaction
from workers.ingest.decoder import Decoded
from workers.opportunity.state import OpportunityState, apply_event, from_table, to_table
from workers.pipeline.book import PipelineBook, PipelineConfig
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.engines import Engines
from workers.runtime.input_watermark import InputWatermark
from workers.runtime.pacing import Pacer
from workers.runtime.pipeline_reports import PipelineReports
from workers.runtime.tables import json_table
from workers.runtime.ticks import Ticks
from workers.triggers.due_index import DueIndex, earliest_due
from workers.triggers.durations import parse_duration
from workers.triggers.evaluate import Evaluation, evaluate, next_due
from workers.triggers.firing import make_firing
from workers.triggers.plan import TriggerSet

log = logging.getLogger(__name__)

GROUP = "opportunities"  # the engine
GAUGES_MAX_AGE = 5.0  # seconds: a scrape may read pipeline gauges this old
FIRINGS = "crm.trigger-firings"
_encode = msgspec.json.Encoder().encode


class TriggerRuntime:
    def __init__(self, ctx: AppContext, engines: Engines, ticks: Ticks) -> None:
        self.ctx = ctx
        app, settings = ctx.app, ctx.settings
        self.engine = engines.engine(GROUP)
        rules = ctx.rules
        self._configure(rules)
        self.inputs = InputWatermark(
            settings, lambda: ctx.clock.now().timestamp(), lambda: self.hold
        )
        app.task(self.inputs.run)
        self.table = engines.table(
            GROUP, json_table(app, settings, "opportunities", "Opportunity state and schedule")
        )
        self.table_name: str = self.table.name
        self.firings_topic = engines.output(GROUP, FIRINGS)
        self.moves_topic = engines.output(GROUP, MOVES)
        self.indexes: dict[int, DueIndex] = {}
        self.books: dict[int, PipelineBook] = {}
        self.batch_limit = 1000  # due opportunities per partition per tick: partitions take turns
        self.open_counts: dict[int, Counter[tuple[str, str]]] = {}
        self.reports = PipelineReports(
            lambda: self.books, lambda: self.pipeline_config, lambda: ctx.clock.now().timestamp()
        )
        ctx.metrics.before_render.append(self._refresh_gauges)
        ctx.metrics.before_render_async.append(self._pipeline_gauges)
        ticks.subscribe("triggers", self._process_due, self._reset)

    def reload(self, rules: Rules) -> None:
        """New rules in force: schedules are re-derived from the table on the next tick of each
        partition (a changed `every` re-plans without re-firing; marks stay)."""
        self._configure(rules)
        self.indexes.clear()

    def _configure(self, rules: Rules) -> None:
        """What the rules set here (at start and at every reload)."""
        self.triggers = TriggerSet.from_rules(rules.triggers)
        self.inactivity_ids = {t.id for t in self.triggers.all if t.inactivity}
        self.grace = parse_duration(rules.scheduler.catch_up_grace)
        self.hold = parse_duration(rules.scheduler.backlog_hold)
        self.lateness = parse_duration(rules.scheduler.allowed_lateness, zero=True)
        self.pipeline_config = PipelineConfig.from_rules(rules.pipelines, rules.analytics.window)

    # --- opportunity events (a step of the opportunities engine) -----------------------------
    def on_opportunity(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        opportunity: OpportunityEvent = decoded.event  # type: ignore[assignment]
        key = decoded.key
        old = from_table(tx.get(self.table_name, partition, key))
        new = apply_event(old, opportunity, partition)
        if new is None:
            return
        if old is not None and old.is_open and (not new.is_open or new.visit != old.visit):
            ended = self._fire_at_exit(tx, partition, old, opportunity.occurred_at)
            if ended is not old:
                new = apply_event(ended, opportunity, partition) or new
        tx.put(self.table_name, partition, key, to_table(new))
        tx.after_commit(lambda: self._stored(partition, key, old, new))

    def _fire_at_exit(
        self, tx: Transaction, partition: int, state: OpportunityState, at: dt.datetime
    ) -> OpportunityState:
        """The stage visit ends at `at` (the event that ends it: another stage, closed,
        deleted). Its periods due before `at` fire now, as a tick at that moment would have:
        ticks come every `tick_interval` (and a backtest's at other moments), and whether an
        opportunity gets a period it stayed in the stage for must not depend on when they
        come. Inactivity triggers are judged as of the inputs' horizon too (an engagement in
        a backlog re-arms them). No stage move is asked: the opportunity has left."""
        now = self.ctx.clock.now()
        judged = min(at, now)
        result = evaluate(state, self.triggers, judged, self.grace, inactivity=False)
        horizon = self.horizon(now.timestamp()) if self.triggers.has_inactivity else None
        if horizon is not None:
            silent_at = min(judged, dt.datetime.fromtimestamp(horizon, dt.UTC))
            silent = evaluate(result.state, self.triggers, silent_at, self.grace, inactivity=True)
            silent.firings[:0] = result.firings
            result = silent
        if not result.firings:
            return state
        records = [make_firing(t, result.state, due, now) for t, due in result.firings]
        for record in records:
            self._emit(tx, partition, self.firings_topic, record.firing_id, record)
        tx.after_commit(lambda: self._counted(now, result, records))
        return result.state

    def _counted(self, now: dt.datetime, result: Evaluation, records: list[TriggerFiring]) -> None:
        metrics = self.ctx.metrics
        for trigger_id, count in result.skipped.items():
            metrics.trigger_periods_skipped.labels(trigger_id).inc(count)
        for record in records:
            metrics.trigger_firings.labels(record.trigger_id).inc()
            metrics.trigger_lateness.observe((now - record.due_at).total_seconds())

    def _stored(
        self, partition: int, key: str, old: OpportunityState | None, new: OpportunityState
    ) -> None:
        self.rescheduled(partition, key, new)
        self._count(partition, old, new)
        book = self.books.get(partition)
        if book is not None:
            book.apply(new)

    def has_inactivity(self) -> bool:
        return self.triggers.has_inactivity

    def counts_activity(self, state: OpportunityState) -> bool:
        return self.triggers.counts_activity(state.pipeline_id, state.stage_id)

    def rescheduled(self, partition: int, key: str, state: OpportunityState) -> None:
        """An opportunity's committed new state (an input or a buyer action): due again when."""
        index = self.indexes.get(partition)
        if index is not None:
            index.set(key, next_due(state, self.triggers))

    def next_due(self, partitions: int) -> float:
        """The earliest time a tick of `partitions` has work (-inf: an index to build): a
        deadline is judged `allowed_lateness` after it is due."""
        return earliest_due(self.indexes, partitions) + self.lateness

    # --- ticks ------------------------------------------------------------------------------
    def horizon(self, now: float) -> float | None:
        """Deadlines up to this time may be judged now: where the inputs are processed, less
        `allowed_lateness` (an input written that long after its `occurred_at` still counts:
        a CRM's webhook retried, a connector's batch)."""
        horizon = self.inputs.horizon(now)
        return None if horizon is None else horizon - self.lateness

    async def _process_due(self, partition: int) -> None:
        """One batch of the opportunities engine (the table has one writer at a time), when
        something may be due: most ticks find nothing, and a batch costs ~100 µs."""
        now = self.ctx.clock.now().timestamp()
        # deadlines are judged as of when the inputs that re-arm them are processed (after a
        # crash or an outage, an engagement still in the backlog must not let "gone silent" fire)
        horizon = self.horizon(now)
        self.ctx.metrics.trigger_hold.set(  # how long the inputs are behind: lateness left out
            now - (self.inputs.started if horizon is None else horizon + self.lateness)
        )
        index = self.indexes.get(partition)
        if index is not None:
            due = index.next_due()
            if due is None or horizon is None or due > horizon:
                return
        try:
            await self.engine.run({partition}, lambda tx: self._due(tx, partition, horizon))
        except BaseException:  # popped from the index, not fired: rebuild it on the next tick
            self.indexes.pop(partition, None)
            raise

    async def _due(self, tx: Transaction, partition: int, horizon: float | None) -> None:
        index = self.indexes.get(partition)
        if index is None:
            index = await self._build_index(partition)
        now = self.ctx.clock.now()  # when they fire
        if horizon is None:
            return
        keys = index.pop_due(horizon, limit=self.batch_limit)
        judged_at = dt.datetime.fromtimestamp(horizon, dt.UTC)
        evaluated: list[tuple[str, Evaluation, list[TriggerFiring], list[StageMove]]] = []
        for key in keys:
            state = from_table(tx.get(self.table_name, partition, key))
            if state is None:
                continue
            result = evaluate(state, self.triggers, judged_at, self.grace)
            records = [make_firing(t, result.state, due, now) for t, due in result.firings]
            moves = self._moves_of(result, records, now)
            for move in moves:
                self._emit(tx, partition, self.moves_topic, move.move_id, move)
            for record in records:
                self._emit(tx, partition, self.firings_topic, record.firing_id, record)
            if result.changed:
                tx.put(self.table_name, partition, key, to_table(result.state))
            evaluated.append((key, result, records, moves))
        if evaluated:
            tx.after_commit(lambda: self._fired(index, now, evaluated))

    def _emit(
        self, tx: Transaction, partition: int, topic: str, output_id: str, record: Any
    ) -> None:
        key = record.opportunity_id.encode()
        tx.emit(partition, topic, key, _encode(record), output_id, partition)

    def _fired(
        self,
        index: DueIndex,
        now: dt.datetime,
        evaluated: list[tuple[str, Evaluation, list[TriggerFiring], list[StageMove]]],
    ) -> None:
        metrics = self.ctx.metrics
        for key, result, records, moves in evaluated:
            index.set(key, result.next_due)
            self._counted(now, result, records)
            for move in moves:
                metrics.stage_moves.labels(move.rule_id).inc()

    def _moves_of(
        self, result: Evaluation, records: list[Any], now: dt.datetime
    ) -> list[StageMove]:
        """The stage moves asked by firings whose action has `move_to` (pending in the state)."""
        moves = []
        for (trigger, _), record in zip(result.firings, records, strict=True):
            state = result.state
            to = trigger.move_to
            if to is None or to == state.stage_id:
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

    # --- assignment: rebuild the index ------------------------------------------------------
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
        counts: Counter[tuple[str, str]] = Counter()
        book = self.books[partition] = PipelineBook(self.pipeline_config)
        seen = 0
        pacer = Pacer()
        for key, raw in self.engine.scan(self.table_name, partition):
            seen += 1
            if pacer.due():
                await pacer.pause()
            if not isinstance(key, str) or key.startswith("__"):
                continue
            # JSON data, or the struct itself where the table keeps values as put (a shadow)
            state = from_table(raw) if isinstance(raw, dict | OpportunityState) else None
            if state is None or state.partition != partition:
                continue
            book.apply(state)
            if state.is_open:
                counts[(state.pipeline_id, state.stage_id)] += 1
            if index.due_at(key) is None:
                index.set(key, next_due(state, self.triggers))
        self.open_counts[partition] = counts
        self.ctx.index_rebuilt(GROUP, partition, seen, pacer)
        log.info("partition %d: %d opportunities, %d scheduled", partition, seen, len(index))
        return index

    def _reset(self, partitions: set[int]) -> None:
        # Revoked, or assigned (it may have changed elsewhere): rebuild on its first tick.
        for partition in partitions:
            self.indexes.pop(partition, None)
            self.open_counts.pop(partition, None)
            self.books.pop(partition, None)

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
        metrics.pending_timers.set(sum(len(i) for i in self.indexes.values()))
        total: Counter[tuple[str, str]] = Counter()
        for counts in self.open_counts.values():
            total.update(counts)
        metrics.open_opportunities.clear()
        for (pipeline, stage), value in total.items():
            metrics.open_opportunities.labels(pipeline, stage).set(value)

    async def pipeline_report(self) -> dict[str, Any]:
        """The live figures of this worker's partitions (see workers/pipeline/report.py)."""
        return await self.reports.get()

    async def _pipeline_gauges(self) -> None:
        """Summable parts per pipeline and stage; ratios are PromQL recording rules."""
        report = await self.reports.get(max_age=GAUGES_MAX_AGE)
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
        for stage_time in self.reports.stage_times():
            for (pipeline, stage), (total, count) in stage_time.items():
                m.pipeline_stage_seconds_sum.labels(pipeline, stage).inc(total)
                m.pipeline_stage_visits.labels(pipeline, stage).inc(count)
