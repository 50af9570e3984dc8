"""Lead scoring in Faust: the contacts table, the organization join, decay sweeps, outputs.

- crm.contacts, crm.form-submissions and crm.engagements (all keyed by contact id) update the
  `contacts` table and re-score the contact at once; a score is published on crm.lead-scores
  only when it changed.
- Organizations are keyed by organization id: a contact's membership goes to the
  organization's partition (`dealstream.org-membership`), and the organization's fields come
  back to each member's partition (`dealstream.org-fields`), so a changed organization
  re-scores all of its contacts — a join built in the stream, no Redis involved.
- Decay and a new rules version re-score through the shared ticks: a due index per partition
  holds when each contact's score may next change with time (no scan per tick).
- Each entry into sales-ready sends one signal on `dealstream.sales-ready` with a deterministic
  `signal_id` (contact, n-th entry).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import msgspec

from schemas.records import (
    ContactDeleted,
    ContactUpserted,
    EngagementRecorded,
    FormSubmitted,
    LeadScore,
    OrganizationDeleted,
    OrganizationUpserted,
    ScoreContribution,
)
from workers.ingest.decoder import Decoded
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.tables import iter_partition, json_table, raw_topic
from workers.runtime.ticks import Ticks
from workers.scoring.contact import (
    ContactState,
    Snapshot,
    apply_contact,
    apply_engagement,
    apply_form,
    apply_organization,
    engagement_interaction,
    form_interaction,
    from_table,
    new_state,
    to_table,
)
from workers.scoring.scorer import Scorer
from workers.scoring.signals import OrgFields, OrgMembership, SalesReadySignal
from workers.serving.redis_view import RedisLeadView
from workers.triggers.due_index import DueIndex

log = logging.getLogger(__name__)

LEAD_SCORES = "crm.lead-scores"
SALES_READY = "dealstream.sales-ready"
ORG_MEMBERSHIP = "dealstream.org-membership"
ORG_FIELDS = "dealstream.org-fields"
SCAN_CHUNK = 1000
_encode = msgspec.json.Encoder().encode


class ScoringRuntime:
    def __init__(self, ctx: AppContext, ticks: Ticks, view: RedisLeadView | None) -> None:
        self.ctx = ctx
        self.scorer = Scorer(ctx.rules)
        app, settings = ctx.app, ctx.settings
        self.contacts = json_table(app, settings, "contacts", "Contact scoring state")
        self.organizations = json_table(
            app, settings, "organizations", "Organization fields and members"
        )
        self.membership = raw_topic(app, settings, ORG_MEMBERSHIP)
        self.org_fields = raw_topic(app, settings, ORG_FIELDS)
        raw_topic(app, settings, SALES_READY)
        self.indexes: dict[int, DueIndex] = {}
        self.stale: dict[int, set[str]] = {}  # per partition: contacts an older version scored
        self.resync: set[int] = set()
        self.view = view
        if view is not None:
            view.on_lost = self._view_lost
        app.agent(self.membership, name="org-membership")(self._membership_agent)
        app.agent(self.org_fields, name="org-fields")(self._org_fields_agent)
        ticks.subscribe("scoring", self._process_due, self._reset)
        ctx.metrics.before_render.append(
            lambda: ctx.metrics.rules_rescore_remaining.set(sum(map(len, self.stale.values())))
        )

    def reload(self, rules: Rules) -> None:
        """A new rules version: every stored contact is re-scored once, in the background (the
        rebuilt due index has them due now), and only changed scores are published."""
        self.scorer = Scorer(rules)
        self.indexes.clear()
        self.stale.clear()

    # --- contact-keyed inputs -----------------------------------------------------------------
    def _load(self, key: str, partition: int) -> ContactState:
        return from_table(self.contacts.get(key)) or new_state(key, partition)

    async def on_contact(self, decoded: Decoded, event: Any) -> None:
        change: ContactUpserted | ContactDeleted = decoded.event  # type: ignore[assignment]
        state = self._load(decoded.key, event.message.partition)
        new = apply_contact(state, change)
        if new is None:
            return
        if new.organization_id != state.organization_id or new.deleted != state.deleted:
            at = change.occurred_at.timestamp()
            if state.organization_id:
                await self._send_membership(state.organization_id, decoded.key, False, at)
            if new.organization_id and not new.deleted:
                await self._send_membership(new.organization_id, decoded.key, True, at)
            if not new.organization_id:
                new = msgspec.structs.replace(new, org_fields={})
        await self._rescore(decoded.key, new, change.event_id, event.message.partition)

    async def on_form(self, decoded: Decoded, event: Any) -> None:
        form: FormSubmitted = decoded.event  # type: ignore[assignment]
        state = self._load(decoded.key, event.message.partition)
        ledger = self.scorer.engagement.record(state.ledger, form_interaction(form))
        await self._rescore(
            decoded.key, apply_form(state, form, ledger), form.event_id, event.message.partition
        )

    async def on_engagement(self, decoded: Decoded, event: Any) -> None:
        engagement: EngagementRecorded = decoded.event  # type: ignore[assignment]
        state = self._load(decoded.key, event.message.partition)
        ledger = self.scorer.engagement.record(state.ledger, engagement_interaction(engagement))
        new = apply_engagement(state, engagement, ledger)
        await self._rescore(decoded.key, new, engagement.event_id, event.message.partition)

    async def _rescore(
        self, key: str, state: ContactState, event_id: str | None, partition: int
    ) -> None:
        """Re-score after an input (`event_id`: it is the cause of what is published) or with
        time (None: the last input applied is)."""
        if event_id is not None and event_id != state.cause_event_id:
            state = msgspec.structs.replace(state, cause_event_id=event_id)
        event_id = state.cause()
        now = self.ctx.clock.now()
        result = self.scorer.rescore(state, now.timestamp())
        self.contacts[key] = to_table(result.state)
        if result.changed:
            await self._publish(result.state, result.snapshot, event_id, now)
        if result.became_ready:
            await self._signal(result.state, result.snapshot, event_id, now)
        index = self.indexes.get(partition)
        if index is not None:
            index.set(key, self.scorer.next_rescore(result.state, now.timestamp()))
        stale = self.stale.get(partition)
        if stale:
            stale.discard(key)

    async def _publish(
        self, state: ContactState, snap: Snapshot, event_id: str, now: dt.datetime
    ) -> None:
        record = score_record(state, snap, event_id, now)
        await self.ctx.emit(LEAD_SCORES, state.contact_id.encode(), _encode(record))
        self.ctx.metrics.lead_scores.inc()
        if self.view is not None:
            self.view.submit(state.contact_id, self._document(state, record))

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

    async def _signal(
        self, state: ContactState, snap: Snapshot, event_id: str, now: dt.datetime
    ) -> None:
        signal = SalesReadySignal(
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
        await self.ctx.emit(SALES_READY, state.contact_id.encode(), _encode(signal))
        self.ctx.metrics.sales_ready_entries.inc()

    # --- the organization join --------------------------------------------------------------
    async def _send_membership(self, org: str, contact: str, member: bool, at: float) -> None:
        body = _encode(OrgMembership(organization_id=org, contact_id=contact, member=member, at=at))
        await self.ctx.emit(ORG_MEMBERSHIP, org.encode(), body)

    def _organization(self, org_id: str) -> dict[str, Any]:
        """An organization's fields and members (empty until its first event or member)."""
        found: dict[str, Any] | None = self.organizations.get(org_id)
        return found or {"fields": {}, "updated_at": 0.0, "members": []}

    async def on_organization(self, decoded: Decoded, event: Any) -> None:
        change: OrganizationUpserted | OrganizationDeleted = decoded.event  # type: ignore[assignment]
        org = self._organization(decoded.key)
        at = change.occurred_at.timestamp()
        if at < org["updated_at"]:
            return
        fields = {} if isinstance(change, OrganizationDeleted) else dict(change.fields)
        org = {**org, "fields": fields, "updated_at": at, "event_id": change.event_id}
        self.organizations[decoded.key] = org
        for contact in org["members"]:
            await self._send_fields(contact, decoded.key, fields, at, change.event_id)

    async def _membership_agent(self, stream: Any) -> None:
        async for event in stream.events():
            try:
                m = msgspec.json.decode(event.message.value, type=OrgMembership)
            except msgspec.DecodeError:
                log.exception("bad membership message")
                continue
            org = self._organization(m.organization_id)
            members = [c for c in org["members"] if c != m.contact_id]
            if m.member:
                members.append(m.contact_id)
            self.organizations[m.organization_id] = {**org, "members": members}
            if m.member and org["updated_at"]:
                await self._send_fields(
                    m.contact_id, m.organization_id, org["fields"], org["updated_at"],
                    org.get("event_id"),
                )  # fmt: skip

    async def _send_fields(
        self, contact: str, org: str, fields: dict[str, Any], at: float, event_id: str | None
    ) -> None:
        body = _encode(
            OrgFields(
                organization_id=org, contact_id=contact, fields=fields, at=at, event_id=event_id
            )
        )
        await self.ctx.emit(ORG_FIELDS, contact.encode(), body)

    async def _org_fields_agent(self, stream: Any) -> None:
        async for event in stream.events():
            try:
                f = msgspec.json.decode(event.message.value, type=OrgFields)
            except msgspec.DecodeError:
                log.exception("bad organization fields message")
                continue
            partition = event.message.partition
            state = self._load(f.contact_id, partition)
            if state.organization_id != f.organization_id:
                continue  # the contact moved on meanwhile
            new = apply_organization(state, f.fields, f.at)
            if new is not None:
                await self._rescore(f.contact_id, new, f.event_id, partition)

    # --- time: decay, new rules version, Redis resync ---------------------------------------
    async def _process_due(self, partition: int) -> None:
        index = self.indexes.get(partition)
        if index is None or partition in self.resync:
            index = await self._build_index(partition)
        now = self.ctx.clock.now()
        for key in index.pop_due(now.timestamp(), limit=SCAN_CHUNK):
            state = from_table(self.contacts.get(key))
            if state is not None:
                await self._rescore(key, state, None, partition)

    async def _build_index(self, partition: int) -> DueIndex:
        index = self.indexes.get(partition) or DueIndex()
        self.indexes[partition] = index
        resync = partition in self.resync and self.view is not None
        self.resync.discard(partition)
        now = self.ctx.clock.now().timestamp()
        for n, (key, raw) in enumerate(iter_partition(self.contacts, partition)):
            if n % SCAN_CHUNK == SCAN_CHUNK - 1:
                await asyncio.sleep(0)
            if not isinstance(raw, dict) or raw.get("partition") != partition:
                continue
            state = from_table(raw)
            if state is None:
                continue
            if index.due_at(key) is None:
                index.set(key, self.scorer.next_rescore(state, now))
            if state.last is not None and state.last.rules_version != self.scorer.version:
                self.stale.setdefault(partition, set()).add(key)
            if resync and self.view is not None and state.last is not None:
                record = score_record(state, state.last, state.cause(), self.ctx.clock.now())
                self.view.submit(key, self._document(state, record))
        return index

    def _view_lost(self) -> None:
        self.resync |= set(self.indexes)

    def _reset(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.indexes.pop(partition, None)
            self.stale.pop(partition, None)
        if self.view is not None:
            self.resync |= partitions


def score_record(state: ContactState, snap: Snapshot, event_id: str, now: dt.datetime) -> LeadScore:
    return LeadScore(
        emitted_at=now,
        event_id=event_id,
        contact_id=state.contact_id,
        fit=snap.fit / 100,
        engagement=snap.engagement / 100,
        total=snap.total / 100,
        stars=snap.stars,
        sales_ready=snap.ready,
        breakdown=[ScoreContribution(rule, c / 100) for rule, c in snap.breakdown],
        rules_version=snap.rules_version,
        grade=snap.grade,
        owner_id=state.owner_id,
        product_line=state.product_line,
    )
