"""The lead router on its own engine: one partition, one writer, decisions explained, never twice.

Capacity and fairness are global across reps and product lines, so every routing input is
forwarded to the single-partition topic `dealstream.router` (sales-ready signals, roster
events, rep activities, and the router's own ticks); the worker that owns its partition keeps
the router state in memory and in the `router` table, and decides. Routing is a low volume
stream (one event per sales-ready lead), so one writer is not a bottleneck, and it moves to
another worker on a rebalance like any partition.

Exactly once: decisions are deterministic and their `assignment_id`s (notifications: their
`notification_id`s) derive from the cause. Each batch of router messages is one batch of the
`router` engine: the assignments and notifications are its outputs, the table rows it changed
are its state (docs/design.md). The memory is reloaded from the table when a batch did not
commit, so it never runs ahead of what was delivered.
"""

from __future__ import annotations

import logging
import math
from collections import ChainMap
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from schemas.records import RepActivity, RepDeleted, RepUpserted
from workers.engine.transaction import Transaction
from workers.notify import notices
from workers.notify.notices import Notice, Reply
from workers.routing.leads import Lead, Outcome
from workers.routing.queue import Queue
from workers.routing.queue_rows import is_queue_row, read_rows, rows_of
from workers.routing.roster import Rep, apply_rep_event
from workers.routing.router import GENERAL, Router
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.engines import Engines
from workers.runtime.router_dashboard import RouterDashboard
from workers.runtime.router_inputs import RouterInputs, RouterMessage
from workers.runtime.router_outputs import RouterOutputs
from workers.runtime.tables import json_table, raw_topic
from workers.scoring.signals import SalesReadySignal
from workers.topics.internal import ROUTER
from workers.triggers.durations import parse_duration

log = logging.getLogger(__name__)

ASSIGNMENTS = "crm.lead-assignments"
NOTIFICATIONS = "crm.rep-notifications"
GROUP = "router"  # its engine
PARTITION = 0  # the router's one partition
REPLY_MEMORY = 86400.0
_encode = msgspec.json.Encoder().encode


class RouterRuntime:
    def __init__(
        self,
        ctx: AppContext,
        engines: Engines,
        tick_interval: float,
    ) -> None:
        self.ctx = ctx
        app, s = ctx.app, ctx.settings
        self.topic = raw_topic(app, s, ROUTER, partitions=1)
        self.topic_name = self.topic.get_topic_name()
        self.inputs = RouterInputs(ctx, engines, self.topic_name)
        self.reload(ctx.rules)
        engines.single_partition(GROUP)
        table = engines.table(
            GROUP, json_table(app, s, "router", "Router state: reps, leads, queues", partitions=1)
        )
        self.table: str = table.name
        self.engine = engines.engine(GROUP)
        self.outputs = RouterOutputs(
            ctx,
            PARTITION,
            engines.output(GROUP, ASSIGNMENTS),
            engines.output(GROUP, NOTIFICATIONS),
            lambda contact, line: self.router.lead_key(contact, line),  # the rules' in force
        )
        engines.input(GROUP, ROUTER)
        self.loaded = False  # the memory below is the table's committed state
        self.reps: dict[str, Rep] = {}
        self.leads: dict[str, Lead] = {}
        # the keys of the leads assigned with an SLA: what a tick looks at besides the queues,
        # so that a tick costs the leads waiting or on an SLA clock, not every lead ever routed
        self.timed: dict[str, None] = {}
        self.freed = True  # a rep may have been freed since the last tick: tick at once
        self.ticked_at = -math.inf  # the clock at the last tick
        self._reps_due: tuple[float, float] | None = None  # (since, when a rep next changes)
        self.queues: dict[str, Queue] = {}
        self.queue_rows: dict[str, int] = {}  # per line, the table rows its queue fills
        self.seq = 0
        self.replies: dict[str, float] = {}  # reply event ids told, oldest first
        self.dashboard = RouterDashboard(
            lambda: ctx.view, s.app_id, lambda: (self.reps, self.queues)
        )
        engines.agent(GROUP, self.topic, "router", self._batch)

        app.timer(tick_interval, name="router-tick")(self._tick)
        app.on_partitions_assigned.connect(self._on_assigned)
        ctx.metrics.before_render.append(self._gauges)

    def reload(self, rules: Rules) -> None:
        self.inputs.reload(rules)
        self.router = Router(rules.routing)
        self.notify = rules.notifications
        warn = self.notify.sla_warning_before
        self.warn_before = parse_duration(warn) if warn else None

    async def _send(self, kind: str, body: bytes) -> None:
        """A tick: no state and no guarantee needed (a lost tick is followed by the next)."""
        value = _encode(RouterMessage(kind=kind, body=body))
        await self.ctx.app.producer.send(self.topic_name, b"router", value, 0, None, None)

    async def _tick(self) -> None:
        consumer = self.ctx.app.consumer
        if consumer is None:
            return
        name = self.topic.get_topic_name()
        if any(tp.topic == name for tp in consumer.assignment()):
            await self._send("tick", b"")

    def next_due(self) -> float:
        """The earliest time a tick has work: the next SLA warning or expiry, and while a lead
        waits in a queue, the next tick after a rep was freed or changed, else the next time a
        rep's hours, absence or daily counters change (nothing else makes a rep available:
        new leads only load reps further)."""
        if not self.loaded and not self.leads:
            return -math.inf  # not loaded yet
        due = math.inf
        if any(self.queues.values()):  # a lead waits (a tick acts on the queues alone)
            if self.freed:
                return -math.inf
            due = self._next_rep_change()
        for key in self.timed:
            lead = self.leads[key]
            if lead.sla_due is not None:
                warn = lead.sla_due - (self.warn_before or 0.0)
                due = min(due, warn if lead.warned_attempt < lead.attempt else lead.sla_due)
        return due

    def _next_rep_change(self) -> float:
        """When time alone next changes a rep's availability, after the last tick looked:
        remembered until a rep or that tick changes (`next_due` runs before every tick)."""
        since = self.ticked_at
        if self._reps_due is None or self._reps_due[0] != since:
            due = min((rep.next_change(since) for rep in self.reps.values()), default=math.inf)
            self._reps_due = (since, due)
        return self._reps_due[1]

    def _remember(self, lead: Lead) -> None:
        key = lead.key
        self.leads[key] = lead
        if lead.status == "assigned" and lead.sla_due is not None:
            self.timed[key] = None
        else:
            self.timed.pop(key, None)

    async def _on_assigned(self, sender: Any, assigned: set[Any], **_: Any) -> None:
        self.loaded = False  # the state may have changed elsewhere: reload on the next event

    # --- the single writer: one batch of the router engine -----------------------------------
    def _batch(self, events: list[Any]) -> Callable[[Transaction], None]:
        def work(tx: Transaction) -> None:
            if not self.loaded:
                self._load()
            self.loaded = False  # until the batch commits, the memory is ahead of the table
            done: list[Callable[[], None]] = []
            for event in events:
                try:
                    message = msgspec.json.decode(event.message.value, type=RouterMessage)
                except msgspec.DecodeError:  # a bug on the sending side, not the CRM's input
                    log.exception("router: bad message %r", event.message.value[:200])
                    continue
                self._handle(tx, message, done)
            tx.after_commit(lambda: self._committed(done))

        return work

    def _committed(self, done: list[Callable[[], None]]) -> None:
        self.loaded = True
        for action in done:
            action()
        self.dashboard.touch()

    def _handle(
        self, tx: Transaction, message: RouterMessage, done: list[Callable[[], None]]
    ) -> None:
        now = self.ctx.clock.now().timestamp()
        said: list[Notice | None] = []
        replied: str | None = None
        if message.kind == "signal":
            s = msgspec.json.decode(message.body, type=SalesReadySignal)
            pl = s.product_line or "general"
            key = self.router.lead_key(s.contact_id, pl)
            out = self.router.on_sales_ready(
                self.reps,
                self.leads.get(key),
                self.queues.get(pl, []),
                signal_id=s.signal_id,
                contact_id=s.contact_id,
                owner_id=s.owner_id,
                product_line=s.product_line,
                breakdown=s.breakdown,
                now=now,
                seq=self.seq,
                ready_at=s.emitted_at.timestamp(),
                event_id=s.event_id,
            )
            if self.notify.lead_sales_ready and not self._replay(key, s.signal_id):
                said.append(
                    notices.sales_ready(
                        signal_id=s.signal_id,
                        contact_id=s.contact_id,
                        owner_id=s.owner_id,
                        product_line=s.product_line,
                        total=s.total,
                        stars=s.stars,
                        breakdown=s.breakdown,
                        event_id=s.event_id,
                    )
                )
        elif message.kind == "reply":
            r = msgspec.json.decode(message.body, type=Reply)
            if r.event_id in self.replies:
                return  # told before (a replayed or re-forwarded engagement)
            said.append(notices.reply(r, self._leads_of(r.contact_id, r.product_line)))
            if said[-1] is None:
                done.append(self.ctx.metrics.replies_unrouted.inc)
            out = Outcome(seq=self.seq)
            replied = r.event_id
        elif message.kind == "rep":
            rep_event = msgspec.json.decode(message.body, type=RepUpserted | RepDeleted)
            new = apply_rep_event(self.reps.get(rep_event.rep_id), rep_event)
            if new is None:
                return
            out = Outcome(seq=self.seq, reps={new.rep_id: new})
            self.freed = True
            self._apply(tx, out, done)
            out = self.router.on_time(self.reps, self.leads, self.queues, now=now, seq=self.seq)
        elif message.kind == "activity":
            activity = msgspec.json.decode(message.body, type=RepActivity)
            self.freed = True  # a contacted or rejected lead frees its rep
            lead = self.leads.get(activity.contact_id) or next(
                (
                    x
                    for x in self.leads.values()
                    if x.contact_id == activity.contact_id and x.rep_id == activity.rep_id
                ),
                None,
            )
            queue: Sequence[str] = self.queues.get(lead.product_line, ()) if lead else ()
            out = self.router.on_activity(
                self.reps,
                lead,
                queue,
                kind=activity.__struct_config__.tag or "",
                rep_id=activity.rep_id,
                event_id=activity.event_id,
                now=now,
                seq=self.seq,
            )
        else:
            out = self.router.on_time(self.reps, self.leads, self.queues, now=now, seq=self.seq)
            self.freed, self.ticked_at = False, now
            timed = [out.leads.get(key) or self.leads[key] for key in self.timed]
            current = timed + [x for key, x in out.leads.items() if key not in self.timed]
            for lead, notice in notices.sla_warnings(current, now, self.warn_before):
                out.leads[lead.key] = lead
                said.append(notice)
        if self.notify.lead_assigned:
            said += notices.assigned(
                out.decisions, ChainMap(out.leads, self.leads), self.router.lead_key
            )
        self._apply(tx, out, done, [n for n in said if n is not None], replied)

    def _remember_reply(self, tx: Transaction, event_id: str, now: float) -> None:
        """Replies have no lead state to say they were told: remember their ids for a day
        (in the batch of the notification; replays come within minutes)."""
        self.replies[event_id] = now
        tx.put(self.table, PARTITION, f"reply:{event_id}", now)
        while self.replies:
            oldest, at = next(iter(self.replies.items()))
            if at > now - REPLY_MEMORY:
                break
            del self.replies[oldest]
            tx.put(self.table, PARTITION, f"reply:{oldest}", None)

    def _leads_of(self, contact_id: str, product_line: str | None) -> list[Lead]:
        lines = (
            {product_line}
            if product_line
            else {GENERAL, *self.ctx.rules.routing.product_lines}
            | {pl for rep in self.reps.values() for pl in rep.product_lines}
        )
        keys = {self.router.lead_key(contact_id, pl) for pl in lines}
        return [self.leads[k] for k in keys if k in self.leads]

    def _replay(self, key: str, signal_id: str) -> bool:
        lead = self.leads.get(key)
        return lead is not None and lead.signal_id == signal_id

    def _apply(
        self,
        tx: Transaction,
        out: Outcome,
        done: list[Callable[[], None]],
        said: list[Notice] | None = None,
        replied: str | None = None,
    ) -> None:
        self.outputs.publish(tx, out, said or [], done)
        if replied is not None:
            self._remember_reply(tx, replied, self.ctx.clock.now().timestamp())
        self.seq = max(self.seq, out.seq)
        for rep in out.reps.values():
            self.reps[rep.rep_id] = rep
            self._reps_due = None
            tx.put(self.table, PARTITION, f"rep:{rep.rep_id}", msgspec.to_builtins(rep))
        for lead in out.leads.values():
            self._remember(lead)
            tx.put(self.table, PARTITION, f"lead:{lead.key}", msgspec.to_builtins(lead))
        for pl, queue in out.queues.items():
            before = self.queues.get(pl)
            kept = 0 if before is None else queue.kept(before)
            self.queues[pl] = queue
            rows, self.queue_rows[pl] = rows_of(pl, queue, self.queue_rows.get(pl, 1), kept)
            for key, row in rows.items():
                tx.put(self.table, PARTITION, key, row)
        if out.reps or out.leads or out.queues:
            tx.put(self.table, PARTITION, "meta", {"seq": self.seq})

    def _load(self) -> None:
        """The router's memory from its table (committed batches only)."""
        self.reps, self.leads, self.seq = {}, {}, 0
        self.timed, self.freed, self._reps_due = {}, True, None
        self.replies = {}
        self.outputs.forget()
        rows = list(self.engine.scan(self.table, PARTITION))
        meta = next((raw for key, raw in rows if key == "meta"), None) or {}
        self.seq = int(meta.get("seq", 0))
        for key, raw in rows:
            if key.startswith("rep:"):
                rep = msgspec.convert(raw, Rep)
                self.reps[rep.rep_id] = rep
            elif key.startswith("lead:"):
                self._remember(msgspec.convert(raw, Lead))
            elif key.startswith("reply:"):
                self.replies[key[6:]] = float(raw)
        self.replies = dict(sorted(self.replies.items(), key=lambda item: item[1]))
        queues, self.queue_rows = read_rows((k, raw) for k, raw in rows if is_queue_row(k))
        self.queues = {line: Queue(keys) for line, keys in queues.items()}
        self.loaded = True
        log.info("router: %d reps, %d leads", len(self.reps), len(self.leads))

    def _gauges(self) -> None:
        depth = self.ctx.metrics.queue_depth
        depth.clear()
        for pl, queue in self.queues.items():
            depth.labels(pl).set(len(queue))
