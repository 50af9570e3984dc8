"""Stage automation in Faust: buyer actions reach the opportunity's partition, moves go out once.

- An engagement (contact's partition) is forwarded as a `BuyerAction` to each open opportunity
  of the contact (known from the contact → opportunities index of owner sync), on
  `dealstream.buyer-actions`, co-partitioned with `crm.opportunities`: an output of the
  contacts engine, sent once.
- There, with the opportunity's own state at hand, the rules decide (pure core in
  `workers.automation`); the action also re-arms inactivity triggers.
- A move is sent to partition `p` of `crm.stage-moves`, confirmed by the broker, and only then
  recorded as the opportunity's pending move. After a crash, the moves published since the
  partition's checkpoint are read back and their pending moves restored (as firings are), so a
  replay asks nothing twice. The opportunity's stage changes only when the CRM's
  `opportunity.stage_changed` comes back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from schemas.records import EngagementRecorded, StageMove
from workers.automation.stage_moves import (
    BuyerAction,
    Move,
    StageMoves,
    make_move,
    with_pending,
)
from workers.engine.transaction import Transaction
from workers.ingest.decoder import Decoded
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.engine_io import ack, as_current, batches, decoded
from workers.runtime.engines import Engines
from workers.runtime.read_back import ReadBack
from workers.runtime.tables import raw_topic
from workers.triggers.opportunity import apply_activity, from_table, to_table

if TYPE_CHECKING:
    from workers.runtime.owner_agents import OwnerSyncRuntime
    from workers.runtime.trigger_agents import TriggerRuntime

log = logging.getLogger(__name__)

MOVES = "crm.stage-moves"
BUYER_ACTIONS = "dealstream.buyer-actions"
CHECKPOINT = "__moves_checkpoint__:{}"
_encode = msgspec.json.Encoder().encode


class MoveRuntime:
    def __init__(
        self,
        ctx: AppContext,
        engines: Engines,
        triggers: TriggerRuntime,
        owners: OwnerSyncRuntime,
    ) -> None:
        self.ctx = ctx
        self.actions_topic = engines.output("contacts", BUYER_ACTIONS)
        self.engine = engines.engine("opportunities")
        engines.input("opportunities", BUYER_ACTIONS)
        self.rules = StageMoves(ctx.rules.automation.stage_moves, ctx.rules.pipelines)
        self.triggers = triggers
        self.owners = owners
        self.topic = raw_topic(ctx.app, ctx.settings, BUYER_ACTIONS)
        self.moves_topic = ctx.settings.topic(MOVES)
        self.delivered: dict[int, int] = {}  # last confirmed move offset per partition
        self.read_back = ReadBack(ctx.settings)
        self.reconciled: set[int] = set()
        triggers.moves = self
        ctx.app.agent(self.topic, name="buyer-actions")(self._agent)

    def reload(self, rules: Rules) -> None:
        self.rules = StageMoves(rules.automation.stage_moves, rules.pipelines)

    # --- the contact's partition: forward (a step of the contacts engine) ---------------------
    def on_engagement(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        engagement: EngagementRecorded = decoded.event  # type: ignore[assignment]
        if not (self.triggers.triggers.has_inactivity or engagement.kind in self.rules.kinds):
            return
        for opportunity_id in self.owners.open_opportunities(tx, partition, engagement.contact_id):
            action = BuyerAction(
                opportunity_id=opportunity_id,
                contact_id=engagement.contact_id,
                kind=engagement.kind,
                at=engagement.occurred_at.timestamp(),
                event_id=engagement.event_id,
                product_line=engagement.product_line,
                source=engagement.source,
            )
            output_id = f"action:{opportunity_id}:{engagement.event_id}"
            body = _encode(action)
            tx.emit(partition, self.actions_topic, opportunity_id.encode(), body, output_id)

    # --- the opportunity's partition: decide ----------------------------------------------------
    async def _agent(self, stream: Any) -> None:
        # batches(): a message fetched before a rebalance is dropped, not acknowledged
        async for events in batches(stream, 100):
            for event, action in decoded(events, BuyerAction, "buyer action"):
                partition = event.message.partition
                # under the opportunities engine's lock: the table has one writer at a time
                as_current(event)  # the opportunities table is written the Faust way here
                act = functools.partial(self._act, action, partition)
                await self.engine.run({partition}, act)
            ack(events)

    async def _act(self, action: BuyerAction, partition: int, tx: Transaction) -> None:
        await self.on_action(action, partition)

    async def on_action(self, action: BuyerAction, partition: int) -> None:
        triggers = self.triggers
        key = action.opportunity_id
        await self.reconcile(partition)  # before the first tick of an assignment, too
        state = triggers.state(partition, key)
        if state is None or not state.is_open or state.contact_id != action.contact_id:
            return
        new = apply_activity(state, action.at, triggers.inactivity_ids) or state
        move = self.rules.decide(new, action)
        if move is not None:
            now = self.ctx.clock.now()
            cause: dict[str, str | float | None] = {
                "type": "engagement",
                "event_id": action.event_id,
                "kind": action.kind,
            }
            record = make_move(new, move, cause, action.event_id, now)
            await self.send(partition, [record])
            new = with_pending(new, move, now.timestamp())
        if new is not state:
            triggers.store(partition, key, new)
        self.checkpoint(partition)

    async def send(self, partition: int, records: list[StageMove]) -> None:
        """Send moves to partition `partition` and wait for the broker to confirm them all."""
        if not records:
            return
        producer = self.ctx.app.producer
        futures = [
            await producer.send(
                self.moves_topic, r.opportunity_id.encode(), _encode(r), partition, None, None
            )
            for r in records
        ]
        delivered = await asyncio.gather(*futures)
        self.delivered[partition] = max(
            self.delivered.get(partition, -1), max(md.offset for md in delivered)
        )
        for r in records:
            self.ctx.metrics.stage_moves.labels(r.rule_id).inc()

    def checkpoint(self, partition: int) -> None:
        """Once every pending move of the partition is in the table, move its checkpoint."""
        if partition in self.delivered and not self.triggers.deferred.get(partition):
            offset = self.delivered.pop(partition)
            self.triggers.table[CHECKPOINT.format(partition)] = {"offset": offset}

    async def reconcile(self, partition: int) -> None:
        """Restore the pending moves of moves delivered after the checkpoint (see module doc);
        once per partition and assignment."""
        if partition in self.reconciled:
            return
        self.reconciled.add(partition)
        table = self.triggers.table
        start = int((table.get(CHECKPOINT.format(partition)) or {}).get("offset", -1)) + 1
        end = await self.read_back.end_offset(self.moves_topic, partition)
        restored = 0
        async for value in self.read_back.between(self.moves_topic, partition, start, end):
            try:
                move = msgspec.json.decode(value, type=StageMove)
            except msgspec.DecodeError:
                continue
            state = from_table(table.get(move.opportunity_id))
            if state is None or not state.is_open or state.stage_id != move.from_stage_id:
                continue  # answered meanwhile, or closed: nothing is pending any more
            if move.move_id in state.asked_moves:
                continue
            asked = Move(move.rule_id, move.to_stage_id, move.move_id)
            restored_state = with_pending(state, asked, move.emitted_at.timestamp())
            table[move.opportunity_id] = to_table(restored_state)
            restored += 1
        if end > start:
            log.info("partition %d: moves %d..%d, restored %d", partition, start, end, restored)
            table[CHECKPOINT.format(partition)] = {"offset": end - 1}

    def reset(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.delivered.pop(partition, None)
            self.reconciled.discard(partition)
