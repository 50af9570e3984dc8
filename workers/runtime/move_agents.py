"""Stage automation: buyer actions reach the opportunity's partition, moves go out once.

- An engagement (contact's partition) is forwarded as a `BuyerAction` to each open opportunity
  of the contact (known from the contact → opportunities index of owner sync), on
  `dealstream.buyer-actions`, co-partitioned with `crm.opportunities`: an output of the
  contacts engine, sent once.
- There, in a batch of the opportunities engine, with the opportunity's own state at hand, the
  rules decide (pure core in `workers.automation`); the action also re-arms inactivity
  triggers. A move goes to partition `p` of `crm.stage-moves` with its `move_id` as output id,
  and the opportunity records it as pending, in the same batch: the engine delivers it once.
  The opportunity's stage changes only when the CRM's `opportunity.stage_changed` comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from schemas.records import EngagementRecorded
from workers.automation.stage_moves import (
    MOVES,
    BuyerAction,
    StageMoves,
    make_move,
    with_pending,
)
from workers.engine.transaction import Transaction
from workers.ingest.decoder import Decoded
from workers.interfaces import ContactOpportunities, OpportunitySchedule
from workers.opportunity.state import apply_activity, from_table, to_table
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.engine_io import decoded
from workers.runtime.engines import Engines
from workers.runtime.tables import raw_topic
from workers.topics.internal import BUYER_ACTIONS

log = logging.getLogger(__name__)

OPPORTUNITIES = "opportunities"  # the engine of the opportunity's partition
_encode = msgspec.json.Encoder().encode


class MoveRuntime:
    def __init__(
        self,
        ctx: AppContext,
        engines: Engines,
        schedule: OpportunitySchedule,
        contacts: ContactOpportunities,
    ) -> None:
        self.ctx = ctx
        self.actions_topic = engines.output("contacts", BUYER_ACTIONS)
        self.moves_topic = engines.output(OPPORTUNITIES, MOVES)
        engines.input(OPPORTUNITIES, BUYER_ACTIONS)
        self.rules = StageMoves(ctx.rules.automation.stage_moves, ctx.rules.pipelines)
        self.schedule = schedule
        self.contacts = contacts
        topic = raw_topic(ctx.app, ctx.settings, BUYER_ACTIONS)
        engines.agent(OPPORTUNITIES, topic, "buyer-actions", self._actions)

    def reload(self, rules: Rules) -> None:
        self.rules = StageMoves(rules.automation.stage_moves, rules.pipelines)

    # --- the contact's partition: forward (a step of the contacts engine) ---------------------
    def on_engagement(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        engagement: EngagementRecorded = decoded.event  # type: ignore[assignment]
        if not (self.schedule.has_inactivity() or engagement.kind in self.rules.kinds):
            return
        for opportunity_id in self.contacts.open_opportunities(
            tx, partition, engagement.contact_id
        ):
            action = BuyerAction(
                opportunity_id=opportunity_id,
                contact_id=engagement.contact_id,
                kind=engagement.kind,
                at=decoded.at,
                event_id=engagement.event_id,
                product_line=engagement.product_line,
                source=engagement.source,
            )
            output_id = f"action:{opportunity_id}:{engagement.event_id}"
            key = opportunity_id.encode()
            tx.emit_made(partition, self.actions_topic, key, action, output_id)

    # --- the opportunity's partition: decide (a batch of the opportunities engine) -----------
    def _actions(self, events: list[Any]) -> Callable[[Transaction], None]:
        def work(tx: Transaction) -> None:
            for event, action in decoded(events, BuyerAction, "buyer action"):
                self.on_action(tx, action, event.message.partition)

        return work

    def on_action(self, tx: Transaction, action: BuyerAction, partition: int) -> None:
        key = action.opportunity_id
        table = self.schedule.table_name
        state = from_table(tx.get(table, partition, key))
        if state is None or not state.is_open or state.contact_id != action.contact_id:
            return
        new = apply_activity(state, action.at, self.schedule.inactivity_ids) or state
        move = self.rules.decide(new, action)
        if move is not None:
            now = self.ctx.clock.now()
            cause: dict[str, str | float | None] = {
                "type": "engagement",
                "event_id": action.event_id,
                "kind": action.kind,
            }
            record = make_move(new, move, cause, action.event_id, now)
            body = _encode(record)
            tx.emit(partition, self.moves_topic, key.encode(), body, record.move_id, partition)
            new = with_pending(new, move, now.timestamp())
            metrics = self.ctx.metrics
            tx.after_commit(lambda: metrics.stage_moves.labels(record.rule_id).inc())
        if new is not state:
            tx.put(table, partition, key, to_table(new))
            # the last engagement and a pending move change the due time only where a trigger
            # of the stage counts from the last engagement (96% of a month's actions do not)
            if self.schedule.counts_activity(new):
                final = new
                tx.after_commit(lambda: self.schedule.rescheduled(partition, key, final))
