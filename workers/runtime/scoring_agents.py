"""Lead scoring on the `contacts` engine: the contacts table, decay sweeps, outputs.

- crm.contacts, crm.form-submissions and crm.engagements (all keyed by contact id) update the
  `contacts` table and re-score the contact at once, in the batch's transaction; a score is
  published on crm.lead-scores only when it changed, with the output id
  `score:<contact>:<n>` (its n-th score), so a replayed input never publishes it twice and
  re-creates it if it was lost.
- A contact's organization: its membership goes to the organization's partition
  (workers/runtime/organization_agents.py) and the fields come back on
  `dealstream.org-fields`, which this engine reads too.
- Decay and a new rules version re-score through the shared ticks: a due index per partition
  holds when each contact's score may next change with time (no scan per tick).
- Each entry into sales-ready sends one signal on `dealstream.sales-ready` with a deterministic
  `signal_id` (contact, n-th entry).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any

import msgspec

from schemas.records import (
    ContactDeleted,
    ContactUpserted,
    EngagementRecorded,
    FormSubmitted,
    LeadScore,
)
from workers.engine.transaction import Transaction
from workers.ingest.decoder import Decoded
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.engine_io import decoded
from workers.runtime.engines import Engines
from workers.runtime.pacing import Pacer
from workers.runtime.tables import json_table, raw_topic
from workers.runtime.ticks import Ticks
from workers.scoring.contact import (
    ContactState,
    Snapshot,
    apply_contact,
    apply_form,
    apply_organization,
    form_interaction,
    from_table,
    new_state,
)
from workers.scoring.published import score_json, score_record
from workers.scoring.scorer import Rescore, Scorer
from workers.scoring.signals import OrgFields, OrgMembership, SalesReadySignal
from workers.serving.redis_view import RedisLeadView
from workers.topics.internal import ORG_FIELDS, ORG_MEMBERSHIP, SALES_READY
from workers.triggers.due_index import DueIndex, earliest_due

log = logging.getLogger(__name__)

GROUP = "contacts"
LEAD_SCORES = "crm.lead-scores"
SCAN_CHUNK = 1000  # due contacts re-scored per tick and partition
RESYNC_BACKLOG = 5000  # documents a Redis resync leaves pending before it waits
_encode = msgspec.json.Encoder().encode
# a re-score committed: (contact, state, score published, its record (None: not published, or
# taken by a score sink), became ready, next due)
Committed = tuple[str, ContactState, bool, LeadScore | None, bool, float | None]
# (contact, its score's JSON made on demand): where a backtest's shadow takes published scores
ScoreSink = Callable[[str, Callable[[], bytes]], None]


class ScoringRuntime:
    def __init__(
        self, ctx: AppContext, engines: Engines, ticks: Ticks, view: RedisLeadView | None
    ) -> None:
        self.ctx = ctx
        self.scorer = Scorer(ctx.rules)
        app, settings = ctx.app, ctx.settings
        self.engine = engines.engine(GROUP)
        self.contacts = engines.table(
            GROUP, json_table(app, settings, "contacts", "Contact scoring state")
        )
        self.table = self.contacts.name
        self.scores_topic = engines.output(GROUP, LEAD_SCORES)
        self.ready_topic = engines.output(GROUP, SALES_READY)
        self.membership_topic = engines.output(GROUP, ORG_MEMBERSHIP)
        raw_topic(app, settings, SALES_READY)
        raw_topic(app, settings, LEAD_SCORES)
        engines.input(GROUP, ORG_FIELDS)
        self.indexes: dict[int, DueIndex] = {}
        self.stale: dict[int, set[str]] = {}  # per partition: contacts an older version scored
        self.resync: set[int] = set()  # partitions whose contacts the Redis view needs again
        self.resyncing: dict[int, asyncio.Future[None]] = {}
        self.view = view
        # None: scores go out through the transaction (a worker). A backtest's shadow counts
        # scores and reads only each contact's last one: it takes them here, unrendered.
        self.score_sink: ScoreSink | None = None
        if view is not None:
            view.on_lost = self._view_lost
        org_fields = raw_topic(app, settings, ORG_FIELDS)

        engines.agent(GROUP, org_fields, "org-fields", self._org_fields)
        ticks.subscribe("scoring", self._process_due, self._reset)
        ctx.metrics.before_render.append(
            lambda: ctx.metrics.rules_rescore_remaining.set(sum(map(len, self.stale.values())))
        )

    def reload(self, rules: Rules) -> None:
        """A new rules version: every stored contact is re-scored once, in the background (the
        rebuilt due index has them due now), and only changed scores are published."""
        self.scorer = Scorer(rules, self.scorer.profiles)
        self.indexes.clear()
        self.stale.clear()

    def keep_profiles(self, contacts: int) -> None:
        """Remember the profile lines of up to `contacts` contacts. Where a table keeps its
        states as put (a backtest's shadow worker), the field maps remembered are the table's
        own, and a contact's next event finds its profile unchanged."""
        self.scorer = Scorer(self.ctx.rules, contacts)

    # --- contact-keyed inputs (steps of the contacts engine) ----------------------------------
    def _load(self, tx: Transaction, key: str, partition: int) -> ContactState:
        return from_table(tx.get(self.table, partition, key)) or new_state(key, partition)

    def on_contact(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        change: ContactUpserted | ContactDeleted = decoded.event  # type: ignore[assignment]
        state = self._load(tx, decoded.key, partition)
        new = apply_contact(state, change)
        if new is None:
            return
        if new.organization_id != state.organization_id or new.deleted != state.deleted:
            at = decoded.at
            if state.organization_id:
                self._membership(tx, partition, state.organization_id, decoded.key, False, at)
            if new.organization_id and not new.deleted:
                self._membership(tx, partition, new.organization_id, decoded.key, True, at)
            if not new.organization_id:
                new = msgspec.structs.replace(new, org_fields={})
        self._rescore(tx, decoded.key, new, change.event_id, partition)

    def on_form(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        form: FormSubmitted = decoded.event  # type: ignore[assignment]
        state = self._load(tx, decoded.key, partition)
        ledger = self.scorer.record(state.ledger, form_interaction(form))
        new = apply_form(state, form, ledger)
        self._rescore(tx, decoded.key, new, form.event_id, partition)

    def on_engagement(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        """`apply_engagement` with its ledger `record`ed, then `_rescore`, in one copy of the
        state (the re-score's), in one native call (`Scorer.engage`): an engagement changes
        nothing else the score reads."""
        e: EngagementRecorded = decoded.event  # type: ignore[assignment]
        state = self._load(tx, decoded.key, partition)
        named = state.cause(e.event_id)  # before the re-score prunes the ledger
        now = self.ctx.clock.now()
        result = self.scorer.engage(
            state, now.timestamp(), e.event_id, e.kind, decoded.at, e.source, e.product_line
        )  # `engagement_interaction`'s fields, without making one
        self._publish(tx, decoded.key, partition, named, now, result)

    def _org_fields(self, events: list[Any]) -> Callable[[Transaction], None]:
        def work(tx: Transaction) -> None:
            for event, f in decoded(events, OrgFields, "organization fields"):
                partition = event.message.partition
                state = self._load(tx, f.contact_id, partition)
                if state.organization_id != f.organization_id:
                    continue  # the contact moved on meanwhile
                new = apply_organization(state, f.fields, f.at)
                if new is not None:
                    self._rescore(tx, f.contact_id, new, f.event_id, partition)

        return work

    def _rescore(
        self, tx: Transaction, key: str, state: ContactState, event_id: str | None, partition: int
    ) -> None:
        """Re-score after an input (`event_id`: it is the cause of what is published) or with
        time (None: the last input applied is)."""
        named = state.cause(event_id)  # before the re-score prunes the ledger
        now = self.ctx.clock.now()
        result = self.scorer.rescore(state, now.timestamp(), event_id)
        self._publish(tx, key, partition, named, now, result)

    def _publish(
        self,
        tx: Transaction,
        key: str,
        partition: int,
        named: str,
        now: dt.datetime,
        result: Rescore,
    ) -> None:
        """A re-score's outcome: its score and sales-ready signal when there is one to publish
        (`named`: the input they name), the new state, and what its commit updates."""
        new, snap = result.state, result.snapshot
        record: LeadScore | None = None
        if snap is not None:  # `changed`: a score to publish
            if self.score_sink is not None:  # the same record, made if it is read
                made = functools.partial(score_json, new, snap, named, now)
                self.score_sink(key, made)
            else:
                record = score_record(new, snap, named, now)
                output_id = f"score:{key}:{new.scores}"
                tx.emit(partition, self.scores_topic, key.encode(), _encode(record), output_id)
            if result.became_ready:  # an entry into sales-ready is a change published
                signal = self._signal(new, snap, named, now)
                body = _encode(signal)
                tx.emit(partition, self.ready_topic, key.encode(), body, signal.signal_id)
        tx.put(self.table, partition, key, new)  # encoded once, at the commit
        committed = (key, new, result.changed, record, result.became_ready, result.due)
        tx.after_commit_each(self._committed, committed)

    def _committed(self, rescored: list[Committed]) -> None:
        """The batch's re-scores are committed: metrics, the Redis view, the due indexes."""
        metrics, view, indexes, stale = self.ctx.metrics, self.view, self.indexes, self.stale
        scores = entries = 0
        for key, state, published, record, became_ready, due in rescored:
            index = indexes.get(state.partition)
            if index is not None:
                index.set(key, due)
            older = stale.get(state.partition)
            if older:
                older.discard(key)
            if became_ready:
                entries += 1
            if published:
                scores += 1
            if record is not None and view is not None:
                try:  # one document that fails stops neither the others nor the indexes
                    view.submit(state.contact_id, self._document(state, record))
                except Exception:
                    log.exception("lead view: contact %s not submitted", key)
        if scores:
            metrics.lead_scores.inc(scores)
        if entries:
            metrics.sales_ready_entries.inc(entries)

    @staticmethod
    def _document(state: ContactState, record: LeadScore | None) -> dict[str, Any]:
        if record is None or state.deleted:
            return {"deleted": True, "owner_id": "", "product_lines": []}
        doc = msgspec.to_builtins(record)
        doc |= {
            "owner_id": state.owner_id or "",
            "product_lines": state.product_lines,
            "deleted": False,
        }
        return dict(doc)

    @staticmethod
    def _signal(
        state: ContactState, snap: Snapshot, event_id: str, now: dt.datetime
    ) -> SalesReadySignal:
        return SalesReadySignal(
            signal_id=f"{state.contact_id}:ready:{state.ready_entries}",
            contact_id=state.contact_id,
            owner_id=state.owner_id,
            product_line=state.product_line,
            product_lines=state.product_lines,
            total=snap.total / 100,
            stars=snap.stars,
            breakdown=[(rule, c / 100) for rule, c in snap.breakdown],
            event_id=event_id,
            emitted_at=now,
        )

    def _membership(
        self, tx: Transaction, partition: int, org: str, contact: str, member: bool, at: float
    ) -> None:
        body = _encode(OrgMembership(organization_id=org, contact_id=contact, member=member, at=at))
        output_id = f"member:{org}:{contact}:{int(member)}:{at}"
        tx.emit(partition, self.membership_topic, org.encode(), body, output_id)

    # --- time: decay, new rules version, Redis resync ---------------------------------------
    def next_due(self, partitions: int) -> float:
        """The earliest time a tick of `partitions` has work (-inf: an index to build)."""
        return earliest_due(self.indexes, partitions)

    async def _process_due(self, partition: int) -> None:
        index = self.indexes.get(partition)
        if index is None:
            index = await self._build_index(partition)
        if partition in self.resync and self.view is not None:
            self.resync.discard(partition)
            self._start_resync(partition, index)
        keys = index.pop_due(self.ctx.clock.now().timestamp(), limit=SCAN_CHUNK)
        if not keys:
            return

        def work(tx: Transaction) -> None:
            for key in keys:
                state = from_table(tx.get(self.table, partition, key))
                if state is not None:
                    self._rescore(tx, key, state, None, partition)

        await self.engine.run({partition}, work)

    async def _build_index(self, partition: int) -> DueIndex:
        index = self.indexes.get(partition) or DueIndex()
        self.indexes[partition] = index
        now = self.ctx.clock.now().timestamp()
        pacer, rows = Pacer(), 0
        for key, raw in self.engine.scan(self.table, partition):
            rows += 1
            if pacer.due():
                await pacer.pause()
            state = _stored(raw, partition)
            if state is None:
                continue
            if index.due_at(key) is None:
                index.set(key, self.scorer.next_rescore(state, now))
            if state.last is not None and state.last.rules_version != self.scorer.version:
                self.stale.setdefault(partition, set()).add(key)
        self.ctx.index_rebuilt(GROUP, partition, rows, pacer)
        return index

    # --- the Redis view: every contact again after Redis lost it, off the tick path ---------
    def _start_resync(self, partition: int, index: DueIndex) -> None:
        running = self.resyncing.pop(partition, None)
        if running is not None:
            running.cancel()
        task = asyncio.ensure_future(self._resync_view(partition, index))
        self.resyncing[partition] = task
        task.add_done_callback(lambda done: self._resynced(partition, done))

    async def _resync_view(self, partition: int, index: DueIndex) -> None:
        """Submit every contact of `partition` to the view, paced and throttled by the view's
        backlog; given up (and asked again) when the partition moves or the rules change."""
        view = self.view
        assert view is not None
        pacer, rows = Pacer(), 0
        for key, raw in self.engine.scan(self.table, partition):
            if pacer.due():
                await pacer.pause()
                if len(view.pending) >= RESYNC_BACKLOG:
                    await view.room(RESYNC_BACKLOG)
                if self.indexes.get(partition) is not index:  # moved, or new rules: again later
                    self.resync.add(partition)
                    return
            state = _stored(raw, partition)
            if state is not None and state.last is not None:
                record = score_record(state, state.last, state.cause(), self.ctx.clock.now())
                view.submit(key, self._document(state, record))
                rows += 1
        took = pacer.finish()
        log.info("partition %d: %d contacts resubmitted to the Redis view in %.1f s (longest "
                 "slice %.0f ms)", partition, rows, took, pacer.longest * 1000)  # fmt: skip

    def _resynced(self, partition: int, task: asyncio.Future[None]) -> None:
        if self.resyncing.get(partition) is task:
            del self.resyncing[partition]
        if not task.cancelled() and task.exception() is not None:
            log.error("partition %d: Redis view resync failed; retried on the next tick",
                      partition, exc_info=task.exception())  # fmt: skip
            self.resync.add(partition)

    def _view_lost(self) -> None:
        self.resync |= set(self.indexes)

    def _reset(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.indexes.pop(partition, None)
            self.stale.pop(partition, None)
            running = self.resyncing.pop(partition, None)
            if running is not None:
                running.cancel()
        if self.view is not None:
            self.resync |= partitions


def _stored(raw: Any, partition: int) -> ContactState | None:
    """A contact of `partition` as a table holds it: JSON data, or the struct itself where
    the table keeps values as put (a backtest's shadow worker)."""
    if isinstance(raw, dict):
        return from_table(raw) if raw.get("partition") == partition else None
    if isinstance(raw, ContactState) and raw.partition == partition:
        return raw
    return None
