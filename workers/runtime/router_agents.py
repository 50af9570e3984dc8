"""The lead router in Faust: one partition, one writer, decisions explained, never twice.

Capacity and fairness are global across reps and product lines, so every routing input is
forwarded to the single-partition topic `dealstream.router` (sales-ready signals, roster
events, rep activities, and the router's own ticks); the worker that owns its partition keeps
the router state in memory, mirrored to the `router` table, and decides. Routing is a low
volume stream (one event per sales-ready lead), so one writer is not a bottleneck, and it
moves to another worker on a rebalance like any partition.

Exactly once: decisions are deterministic and their `assignment_id`s derive from the cause.
An assignment is marked in the state only after the broker confirmed it; after a crash or
rebalance, the new owner reads back the assignments published since its checkpoint, so a
replayed input that re-derives a delivered decision does not publish it again.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from schemas.records import (
    LeadAssignment,
    Reason,
    RepActivity,
    RepDeleted,
    RepNotification,
    RepUpserted,
)
from workers.notify import notices
from workers.notify.notices import Notice, Reply
from workers.routing.roster import Rep, apply_rep_event
from workers.routing.router import GENERAL, Lead, Outcome, Router
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.engine_io import ack, as_current, batches
from workers.runtime.engines import Engines
from workers.runtime.read_back import ReadBack
from workers.runtime.router_dashboard import RouterDashboard
from workers.runtime.router_inputs import ROUTER, RouterInputs, RouterMessage
from workers.runtime.tables import json_table, raw_topic
from workers.scoring.signals import SalesReadySignal
from workers.triggers.durations import parse_duration

log = logging.getLogger(__name__)

ASSIGNMENTS = "crm.lead-assignments"
NOTIFICATIONS = "crm.rep-notifications"
REPLY_MEMORY = 86400.0
_encode = msgspec.json.Encoder().encode


def checkpoint_key(topic: str, partition: int) -> str:
    """Assignments keep the plain partition number (as before); notifications `n<partition>`."""
    return f"n{partition}" if topic.endswith(NOTIFICATIONS) else str(partition)


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
        self.table = json_table(app, s, "router", "Router state: reps, leads, queues", partitions=1)
        self.loaded = False
        self.reps: dict[str, Rep] = {}
        self.leads: dict[str, Lead] = {}
        self.queues: dict[str, list[str]] = {}
        self.seq = 0
        self.emitted: set[str] = set()
        self.replies: dict[str, float] = {}  # reply event ids told, oldest first
        self.checkpoint: dict[str, int] = {}
        self.read_back = ReadBack(s)
        self.dashboard = RouterDashboard(
            lambda: ctx.view, s.app_id, lambda: (self.reps, self.queues)
        )
        app.agent(self.topic, name="router")(self._agent)

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

    async def _on_assigned(self, sender: Any, assigned: set[Any], **_: Any) -> None:
        self.loaded = False  # the state may have changed elsewhere: reload on the next event

    # --- the single writer ---------------------------------------------------------------------
    async def _agent(self, stream: Any) -> None:
        # batches(): a message fetched before a rebalance is dropped, not acknowledged
        async for events in batches(stream, 100):
            for event in events:
                as_current(event)  # the router table is written the Faust way
                try:
                    if not self.loaded:
                        await self._load()
                    message = msgspec.json.decode(event.message.value, type=RouterMessage)
                    await self._handle(message)
                except Exception:
                    log.exception("router failed on %r", event.message.value[:200])
            ack(events)

    async def _handle(self, message: RouterMessage) -> None:
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
                self.ctx.metrics.replies_unrouted.inc()
            out = Outcome(seq=self.seq)
            replied = r.event_id
        elif message.kind == "rep":
            rep_event = msgspec.json.decode(message.body, type=RepUpserted | RepDeleted)
            new = apply_rep_event(self.reps.get(rep_event.rep_id), rep_event)
            if new is None:
                return
            out = Outcome(seq=self.seq, reps={new.rep_id: new})
            await self._apply(out)
            out = self.router.on_time(self.reps, self.leads, self.queues, now=now, seq=self.seq)
        elif message.kind == "activity":
            activity = msgspec.json.decode(message.body, type=RepActivity)
            lead = self.leads.get(activity.contact_id) or next(
                (
                    x
                    for x in self.leads.values()
                    if x.contact_id == activity.contact_id and x.rep_id == activity.rep_id
                ),
                None,
            )
            queue = self.queues.get(lead.product_line, []) if lead else []
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
            current = {**self.leads, **out.leads}.values()
            for lead, notice in notices.sla_warnings(current, now, self.warn_before):
                out.leads[lead.key] = lead
                said.append(notice)
        if self.notify.lead_assigned:
            said += notices.assigned(
                out.decisions, {**self.leads, **out.leads}, self.router.lead_key
            )
        await self._apply(out, [n for n in said if n is not None], replied)

    def _remember_reply(self, event_id: str, now: float) -> None:
        """Replies have no lead state to say they were told: remember their ids for a day
        (written after the notification was confirmed; replays come within minutes)."""
        self.replies[event_id] = now
        self.table[f"reply:{event_id}"] = now
        while self.replies:
            oldest, at = next(iter(self.replies.items()))
            if at > now - REPLY_MEMORY:
                break
            del self.replies[oldest]
            self.table.pop(f"reply:{oldest}", None)

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

    async def _apply(
        self, out: Outcome, said: list[Notice] | None = None, replied: str | None = None
    ) -> None:
        delivered = await self._publish(out, said or [])
        if replied is not None:  # before the checkpoint moves past its notification
            self._remember_reply(replied, self.ctx.clock.now().timestamp())
        self.seq = max(self.seq, out.seq)
        for rep in out.reps.values():
            self.reps[rep.rep_id] = rep
            self.table[f"rep:{rep.rep_id}"] = msgspec.to_builtins(rep)
        for lead in out.leads.values():
            self.leads[lead.key] = lead
            self.table[f"lead:{lead.key}"] = msgspec.to_builtins(lead)
        for pl, queue in out.queues.items():
            self.queues[pl] = queue
            self.table[f"queue:{pl}"] = queue
        if out.reps or out.leads or out.queues or delivered:
            self.checkpoint.update(delivered)
            self.table["meta"] = {"seq": self.seq, "checkpoint": self.checkpoint}
            self.dashboard.touch()

    async def _publish(self, out: Outcome, said: list[Notice]) -> dict[str, int]:
        now = self.ctx.clock.now()
        futures = []
        metrics = self.ctx.metrics
        for d in out.decisions:
            if d.assignment_id in self.emitted:
                continue  # delivered before a crash or rebalance: never twice
            record = LeadAssignment(
                emitted_at=now,
                event_id=d.event_id,
                assignment_id=d.assignment_id,
                contact_id=d.contact_id,
                product_line=d.product_line,
                rep_id=d.rep_id,
                decision=d.decision,  # type: ignore[arg-type]
                reason=Reason(d.code, d.text),
                candidates=list(d.candidates),
            )
            topic = self.ctx.settings.topic(ASSIGNMENTS)
            futures.append(
                await self.ctx.app.producer.send(
                    topic, d.contact_id.encode(), _encode(record), None, None, None
                )
            )
            self.emitted.add(d.assignment_id)
            metrics.assignments.labels(d.product_line, d.decision).inc()
            lead = out.leads.get(self.router.lead_key(d.contact_id, d.product_line))
            if lead is not None and d.decision in ("assigned", "owner_notified"):
                metrics.time_to_assign.observe(max(0.0, now.timestamp() - lead.ready_at))
            if ":sla:" in d.assignment_id:  # taken back from a rep who let the SLA pass
                metrics.sla_reassignments.inc()
        topic = self.ctx.settings.topic(NOTIFICATIONS)
        for n in said:
            if n.notification_id in self.emitted:
                continue
            notification = RepNotification(
                emitted_at=now,
                event_id=n.event_id,
                notification_id=n.notification_id,
                rep_id=n.rep_id,
                contact_id=n.contact_id,
                kind=n.kind,  # type: ignore[arg-type]
                context=n.context,
            )
            futures.append(
                await self.ctx.app.producer.send(
                    topic, n.rep_id.encode(), _encode(notification), None, None, None
                )
            )
            self.emitted.add(n.notification_id)
            metrics.notifications.labels(n.kind).inc()
        offsets: dict[str, int] = {}
        for future in futures:
            md = await future
            name = checkpoint_key(md.topic, md.partition)
            offsets[name] = max(offsets.get(name, -1), md.offset)
        return offsets

    async def _load(self) -> None:
        self.reps, self.leads, self.queues, self.seq = {}, {}, {}, 0
        self.replies = {}
        meta = self.table.get("meta") or {}
        self.seq = int(meta.get("seq", 0))
        self.checkpoint = {str(k): int(v) for k, v in (meta.get("checkpoint") or {}).items()}
        for key, raw in list(self.table.items()):
            if key.startswith("rep:"):
                rep = msgspec.convert(raw, Rep)
                self.reps[rep.rep_id] = rep
            elif key.startswith("lead:"):
                lead = msgspec.convert(raw, Lead)
                self.leads[lead.key] = lead
            elif key.startswith("queue:"):
                self.queues[key[6:]] = list(raw)
            elif key.startswith("reply:"):
                self.replies[key[6:]] = float(raw)
        self.replies = dict(sorted(self.replies.items(), key=lambda item: item[1]))
        self.emitted = await self._read_back()
        self.loaded = True
        log.info(
            "router: %d reps, %d leads, %d emitted since checkpoint",
            len(self.reps),
            len(self.leads),
            len(self.emitted),
        )

    async def _read_back(self) -> set[str]:
        """Ids of the assignments and notifications published since the checkpoint."""
        topics = [self.ctx.settings.topic(name) for name in (ASSIGNMENTS, NOTIFICATIONS)]
        return await self.read_back.ids_since(
            topics,
            lambda topic, partition: self.checkpoint.get(checkpoint_key(topic, partition), -1) + 1,
            ("assignment_id", "notification_id"),
        )

    def _gauges(self) -> None:
        depth = self.ctx.metrics.queue_depth
        depth.clear()
        for pl, queue in self.queues.items():
            depth.labels(pl).set(len(queue))
