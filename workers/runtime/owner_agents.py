"""Owner sync in Faust: a contact → opportunities index built in the stream.

Opportunity events are keyed by opportunity id and contact events by contact id. Each
opportunity event sends a link (status, owner) to its contact's partition on
`dealstream.contact-opportunities`, where the `contact-owners` table keeps, per contact, its
owner and its opportunities. A changed contact owner, or a new open opportunity without an
owner, gives commands on `crm.owner-changes`; each is recorded so a replay does not repeat it.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from schemas.records import (
    ContactDeleted,
    ContactUpserted,
    OpportunityDeleted,
    OpportunityEvent,
    OwnerChange,
)
from workers.ingest.decoder import Decoded
from workers.ownership.sync import Command, ContactOwnership, commands, link_opportunity
from workers.runtime.context import AppContext
from workers.runtime.tables import json_table, raw_topic

log = logging.getLogger(__name__)

LINKS = "dealstream.contact-opportunities"
OWNER_CHANGES = "crm.owner-changes"
_encode = msgspec.json.Encoder().encode


class Link(msgspec.Struct, frozen=True, kw_only=True):
    opportunity_id: str
    contact_id: str
    status: str  # open | won | lost | deleted (deleted also when it moved to another contact)
    owner_id: str | None
    at: float
    event_id: str


class OwnerSyncRuntime:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        app, s = ctx.app, ctx.settings
        self.rules = ctx.rules.owner_sync
        self.contact_of = json_table(app, s, "opportunity-contacts", "Contact of each opportunity")
        self.owners = json_table(app, s, "contact-owners", "Contact owner and its opportunities")
        self.topic = raw_topic(app, s, LINKS)
        app.agent(self.topic, name="contact-opportunities")(self._links_agent)

    async def on_opportunity(self, decoded: Decoded, event: Any) -> None:
        opp: OpportunityEvent = decoded.event  # type: ignore[assignment]
        at = opp.occurred_at.timestamp()
        previous = self.contact_of.get(decoded.key)
        if previous is not None and at < previous["at"]:
            return
        self.contact_of[decoded.key] = {"contact_id": opp.contact_id, "at": at}
        status = "deleted" if isinstance(opp, OpportunityDeleted) else opp.status
        if previous is not None and previous["contact_id"] != opp.contact_id:
            await self._link(
                Link(
                    opportunity_id=decoded.key,
                    contact_id=previous["contact_id"],
                    status="deleted",
                    owner_id=opp.owner_id,
                    at=at,
                    event_id=opp.event_id,
                )
            )
        await self._link(
            Link(
                opportunity_id=decoded.key,
                contact_id=opp.contact_id,
                status=status,
                owner_id=opp.owner_id,
                at=at,
                event_id=opp.event_id,
            )
        )

    async def _link(self, link: Link) -> None:
        await self.ctx.emit(LINKS, link.contact_id.encode(), _encode(link))

    def _load(self, contact_id: str) -> ContactOwnership:
        raw = self.owners.get(contact_id)
        return (
            ContactOwnership(contact_id=contact_id)
            if raw is None
            else msgspec.convert(raw, ContactOwnership)
        )

    def open_opportunities(self, contact_id: str) -> list[str]:
        """The contact's open opportunities (read on the contact's partition)."""
        state = self._load(contact_id)
        return [o for o, link in state.opportunities.items() if link.status == "open"]

    def owner_of(self, contact_id: str) -> str | None:
        return self._load(contact_id).owner_id

    async def on_contact(self, decoded: Decoded, event: Any) -> None:
        change: ContactUpserted | ContactDeleted = decoded.event  # type: ignore[assignment]
        if isinstance(change, ContactDeleted):
            return
        at = change.occurred_at.timestamp()
        state = self._load(decoded.key)
        if at < state.owner_at or change.owner_id == state.owner_id:
            if at > state.owner_at:
                self.owners[decoded.key] = msgspec.to_builtins(
                    msgspec.structs.replace(state, owner_at=at)
                )
            return
        state = msgspec.structs.replace(state, owner_id=change.owner_id, owner_at=at)
        state, todo = commands(
            state,
            sync_open=self.rules.open,
            sync_closed=self.rules.closed,
            reason="contact_owner_changed",
        )
        self.owners[decoded.key] = msgspec.to_builtins(state)
        await self._emit(todo, change.event_id)

    async def _links_agent(self, stream: Any) -> None:
        async for event in stream.events():
            try:
                link = msgspec.json.decode(event.message.value, type=Link)
            except msgspec.DecodeError:
                log.exception("bad link message")
                continue
            state = self._load(link.contact_id)
            state, created_without_owner = link_opportunity(
                state, link.opportunity_id, link.status, link.owner_id, link.at
            )
            todo: list[Command] = []
            if created_without_owner and self.rules.open:
                state, todo = commands(
                    state,
                    sync_open=True,
                    sync_closed=False,
                    only={link.opportunity_id},
                    reason="created_without_owner",
                )
            self.owners[link.contact_id] = msgspec.to_builtins(state)
            await self._emit(todo, link.event_id)

    async def _emit(self, todo: list[Command], event_id: str | None) -> None:
        now = self.ctx.clock.now()
        for c in todo:
            record = OwnerChange(
                emitted_at=now,
                event_id=event_id,
                opportunity_id=c.opportunity_id,
                contact_id=c.contact_id,
                old_owner_id=c.old_owner_id,
                new_owner_id=c.new_owner_id,
                reason=c.reason,
            )
            await self.ctx.emit(OWNER_CHANGES, c.opportunity_id.encode(), _encode(record))
            self.ctx.metrics.owner_changes.labels(c.reason).inc()
