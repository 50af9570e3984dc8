"""What a router batch sends: its decisions as `crm.lead-assignments` records and its notices
as `crm.rep-notifications`, each once per id since the router's memory was loaded (a replay's
repeats are the engine's to drop), with their metrics counted after the commit."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

import msgspec

from schemas.records import LeadAssignment, Reason, RepNotification
from workers.engine.transaction import Transaction
from workers.notify.notices import Notice
from workers.observability.metrics import Metrics
from workers.routing.leads import Outcome
from workers.runtime.context import AppContext

_encode = msgspec.json.Encoder().encode


class RouterOutputs:
    def __init__(
        self,
        ctx: AppContext,
        partition: int,
        assignments_topic: str,
        notifications_topic: str,
        lead_key: Callable[[str, str], str],
    ) -> None:
        self.ctx = ctx
        self.partition = partition
        self.assignments_topic = assignments_topic
        self.notifications_topic = notifications_topic
        self.lead_key = lead_key
        self.emitted: set[str] = set()  # ids emitted since the last load (live repeats)

    def forget(self) -> None:
        """The router's memory is reloaded: what it emitted before is the engine's to know."""
        self.emitted = set()

    def publish(
        self, tx: Transaction, out: Outcome, said: list[Notice], done: list[Callable[[], None]]
    ) -> None:
        now = self.ctx.clock.now()
        metrics: Metrics = self.ctx.metrics
        for d in out.decisions:
            if d.assignment_id in self.emitted:
                continue  # decided again live (a replay's repeats are the engine's to drop)
            self.emitted.add(d.assignment_id)
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
                due_at=None if d.due_at is None else dt.datetime.fromtimestamp(d.due_at, dt.UTC),
            )
            body, key = _encode(record), d.contact_id.encode()
            tx.emit(self.partition, self.assignments_topic, key, body, d.assignment_id)
            done.append(metrics.assignments.labels(d.product_line, d.decision).inc)
            lead = out.leads.get(self.lead_key(d.contact_id, d.product_line))
            if lead is not None and d.decision in ("assigned", "owner_notified"):
                waited = max(0.0, now.timestamp() - lead.ready_at)
                done.append(functools.partial(metrics.time_to_assign.observe, waited))
            if ":sla:" in d.assignment_id:  # taken back from a rep who let the SLA pass
                done.append(metrics.sla_reassignments.inc)
        for n in said:
            if n.notification_id in self.emitted:
                continue
            self.emitted.add(n.notification_id)
            notification = RepNotification(
                emitted_at=now,
                event_id=n.event_id,
                notification_id=n.notification_id,
                rep_id=n.rep_id,
                contact_id=n.contact_id,
                kind=n.kind,  # type: ignore[arg-type]
                context=n.context,
            )
            body, key = _encode(notification), n.rep_id.encode()
            tx.emit(self.partition, self.notifications_topic, key, body, n.notification_id)
            done.append(metrics.notifications.labels(n.kind).inc)
