"""Owner sync in Faust: a contact → opportunities index built in the stream.

Opportunity events are keyed by opportunity id and contact events by contact id. Each
opportunity event sends a link (status, owner) to its contact's partition on
`dealstream.contact-opportunities`, where the `contact-owners` table keeps, per contact, its
owner and its opportunities. A changed contact owner, or a new open opportunity without an
owner, gives commands on `crm.owner-changes`. A command is confirmed by the broker before it
is recorded in the contact's state, and the partition's checkpoint (offsets of the output's
partitions) moves after it; after a crash or rebalance, the commands delivered since the
checkpoint are read back before the partition's first event and their records restored, so
a replayed input never repeats one.
"""

from __future__ import annotations

import asyncio
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
from workers.ownership.sync import (
    Command,
    ContactOwnership,
    commands,
    link_opportunity,
    restore_command,
)
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.read_back import ReadBack
from workers.runtime.tables import json_table, raw_topic

log = logging.getLogger(__name__)

LINKS = "dealstream.contact-opportunities"
OWNER_CHANGES = "crm.owner-changes"
CHECKPOINT = "__owner_changes_checkpoint__:{}"
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
        self.changes_topic = s.topic(OWNER_CHANGES)
        self.read_back = ReadBack(s)
        self.reconciled: set[int] = set()
        app.on_partitions_assigned.connect(self._on_assigned)
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

    def _load(self, contact_id: str, partition: int = -1) -> ContactOwnership:
        raw = self.owners.get(contact_id)
        if raw is None:
            return ContactOwnership(contact_id=contact_id, partition=partition)
        state = msgspec.convert(raw, ContactOwnership)
        if partition >= 0 and state.partition != partition:
            state = msgspec.structs.replace(state, partition=partition)
        return state

    def reload(self, rules: Rules) -> None:
        self.rules = rules.owner_sync

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
        partition = event.message.partition
        await self._reconcile(partition)
        at = change.occurred_at.timestamp()
        state = self._load(decoded.key, partition)
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
        delivered = await self._emit(todo, change.event_id)
        self.owners[decoded.key] = msgspec.to_builtins(state)
        self._checkpoint(partition, delivered)

    async def _links_agent(self, stream: Any) -> None:
        async for event in stream.events():
            try:
                link = msgspec.json.decode(event.message.value, type=Link)
            except msgspec.DecodeError:
                log.exception("bad link message")
                continue
            partition = event.message.partition
            await self._reconcile(partition)
            state = self._load(link.contact_id, partition)
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
            delivered = await self._emit(todo, link.event_id)
            self.owners[link.contact_id] = msgspec.to_builtins(state)
            self._checkpoint(partition, delivered)

    async def _emit(self, todo: list[Command], event_id: str) -> dict[str, int]:
        """Send the commands and wait for the broker: {output partition: last offset}."""
        now = self.ctx.clock.now()
        futures = []
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
            futures.append(
                await self.ctx.app.producer.send(
                    self.changes_topic, c.opportunity_id.encode(), _encode(record), None, None, None
                )
            )
            self.ctx.metrics.owner_changes.labels(c.reason).inc()
        delivered: dict[str, int] = {}
        for md in await asyncio.gather(*futures):
            delivered[str(md.partition)] = max(delivered.get(str(md.partition), -1), md.offset)
        return delivered

    def _checkpoint(self, partition: int, delivered: dict[str, int]) -> None:
        """After the state that records them: offsets up to which this partition's commands
        are recorded (written to the same changelog partition, so never ahead of the state)."""
        if not delivered:
            return
        key = CHECKPOINT.format(partition)
        offsets = dict(self.owners.get(key) or {})
        for p, offset in delivered.items():
            offsets[p] = max(int(offsets.get(p, -1)), offset)
        self.owners[key] = offsets

    async def _reconcile(self, partition: int) -> None:
        """Before a partition's first event after an assignment: restore the records of the
        commands delivered since its checkpoint (see the module doc)."""
        if partition in self.reconciled:
            return
        self.reconciled.add(partition)
        saved = self.owners.get(CHECKPOINT.format(partition)) or {}
        start = {str(p): int(o) + 1 for p, o in saved.items()}
        ends: dict[str, int] = {}
        last: dict[str, OwnerChange] = {}  # the latest command per opportunity is what counts
        async for value in self.read_back.all_partitions(
            self.changes_topic, lambda p: start.get(str(p), 0), ends
        ):
            try:
                change = msgspec.json.decode(value, type=OwnerChange)
            except msgspec.DecodeError:
                continue
            last[change.opportunity_id] = change
        restored = 0
        for change in last.values():
            state = self._load(change.contact_id, -1)
            if state.partition != partition:
                continue  # another partition's contact
            new = restore_command(state, change.opportunity_id, change.new_owner_id)
            if new is not None:
                self.owners[change.contact_id] = msgspec.to_builtins(new)
                restored += 1
        if restored:
            log.info("partition %d: restored %d delivered owner commands", partition, restored)
        if ends:
            self.owners[CHECKPOINT.format(partition)] = {**saved, **ends}

    async def _on_assigned(self, sender: Any, assigned: set[Any], **_: Any) -> None:
        self.reconciled.clear()  # a partition may have been elsewhere meanwhile
