"""Owner sync: a contact → opportunities index built in the stream, on the engines.

Opportunity events are keyed by opportunity id and contact events by contact id. Each
opportunity event (the `opportunities` engine) sends a link (status, owner) to its contact's
partition on `dealstream.contact-opportunities`, where the `contacts` engine keeps, in the
`contact-owners` table, each contact's owner and its opportunities. A changed contact owner,
or a new open opportunity without an owner, gives commands on `crm.owner-changes`. Links and
commands are engine outputs: each has an id derived from its cause (`owner:<opportunity>:
<new owner>:<event>`), so a replayed input never repeats one and re-creates a lost one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from schemas.records import (
    ContactDeleted,
    ContactUpserted,
    OpportunityDeleted,
    OpportunityEvent,
    OwnerChange,
)
from workers.engine.transaction import Transaction
from workers.ingest.decoder import Decoded
from workers.ownership.sync import Command, ContactOwnership, commands, link_opportunity
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.engine_io import decoded
from workers.runtime.engines import Engines
from workers.runtime.tables import json_table, raw_topic
from workers.text import shared
from workers.topics.internal import LINKS

log = logging.getLogger(__name__)

CONTACTS, OPPORTUNITIES = "contacts", "opportunities"  # the engines
OWNER_CHANGES = "crm.owner-changes"
_encode = msgspec.json.Encoder().encode


class Link(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    opportunity_id: str
    contact_id: str
    status: str  # open | won | lost | deleted (deleted also when it moved to another contact)
    owner_id: str | None
    at: float
    event_id: str


class OwnerSyncRuntime:
    def __init__(self, ctx: AppContext, engines: Engines) -> None:
        self.ctx = ctx
        app, s = ctx.app, ctx.settings
        self.rules = ctx.rules.owner_sync
        contact_of = json_table(app, s, "opportunity-contacts", "Contact of each opportunity")
        self.contact_of = engines.table(OPPORTUNITIES, contact_of).name
        owners = json_table(app, s, "contact-owners", "Contact owner and its opportunities")
        self.owners = engines.table(CONTACTS, owners).name
        self.links_topic = engines.output(OPPORTUNITIES, LINKS)
        self.changes_topic = engines.output(CONTACTS, OWNER_CHANGES)
        engines.input(CONTACTS, LINKS)
        links = raw_topic(app, s, LINKS)

        engines.agent(CONTACTS, links, "contact-opportunities", self._links)

    def reload(self, rules: Rules) -> None:
        self.rules = rules.owner_sync

    # --- the opportunity's partition: link it to its contact -----------------------------------
    def on_opportunity(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        opp: OpportunityEvent = decoded.event  # type: ignore[assignment]
        at = decoded.at
        previous = tx.get(self.contact_of, partition, decoded.key)
        if previous is not None and at < previous["at"]:
            return
        tx.put(self.contact_of, partition, decoded.key, {"contact_id": opp.contact_id, "at": at})
        status = "deleted" if isinstance(opp, OpportunityDeleted) else opp.status
        if previous is not None and previous["contact_id"] != opp.contact_id:
            self._link(tx, partition, decoded.key, previous["contact_id"], "deleted", opp, at)
        self._link(tx, partition, decoded.key, opp.contact_id, status, opp, at)

    def _link(
        self, tx: Transaction, partition: int, opp_id: str, contact: str, status: str,
        opp: OpportunityEvent, at: float,
    ) -> None:  # fmt: skip
        link = Link(
            opportunity_id=opp_id,
            contact_id=contact,
            status=status,
            owner_id=opp.owner_id,
            at=at,
            event_id=opp.event_id,
        )
        output_id = f"link:{opp_id}:{contact}:{opp.event_id}"
        tx.emit(partition, self.links_topic, contact.encode(), _encode(link), output_id)

    # --- the contact's partition: the index and the commands ---------------------------------
    def _load(self, tx: Transaction, partition: int, contact_id: str) -> ContactOwnership:
        raw = tx.get(self.owners, partition, contact_id)
        if raw is None:
            return ContactOwnership(contact_id=contact_id, partition=partition)
        if type(raw) is ContactOwnership:  # the struct a batch left (or a shadow's table keeps)
            return raw
        return msgspec.convert(raw, ContactOwnership)  # JSON data, as a table stores it

    def open_opportunities(self, tx: Transaction, partition: int, contact_id: str) -> list[str]:
        """The contact's open opportunities (on the contact's partition)."""
        return self._load(tx, partition, contact_id).open_ids()

    def owner_of(self, tx: Transaction, partition: int, contact_id: str) -> str | None:
        return self._load(tx, partition, contact_id).owner_id

    def on_contact(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        change: ContactUpserted | ContactDeleted = decoded.event  # type: ignore[assignment]
        if isinstance(change, ContactDeleted):
            return
        at = decoded.at
        state = self._load(tx, partition, decoded.key)
        if at < state.owner_at or change.owner_id == state.owner_id:
            if at > state.owner_at:
                state = msgspec.structs.replace(state, owner_at=at)
                tx.put(self.owners, partition, decoded.key, state)  # encoded at the commit
            return
        state = msgspec.structs.replace(state, owner_id=shared(change.owner_id), owner_at=at)
        state, todo = commands(
            state,
            sync_open=self.rules.open,
            sync_closed=self.rules.closed,
            reason="contact_owner_changed",
        )
        self._emit(tx, partition, todo, change.event_id)
        tx.put(self.owners, partition, decoded.key, state)  # encoded at the commit

    def _links(self, events: list[Any]) -> Callable[[Transaction], None]:
        def work(tx: Transaction) -> None:
            for event, link in decoded(events, Link, "link"):
                self._on_link(tx, event.message.partition, link)

        return work

    def _on_link(self, tx: Transaction, partition: int, link: Link) -> None:
        state = self._load(tx, partition, link.contact_id)
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
        self._emit(tx, partition, todo, link.event_id)
        tx.put(self.owners, partition, link.contact_id, state)  # encoded at the commit

    def _emit(self, tx: Transaction, partition: int, todo: list[Command], event_id: str) -> None:
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
            output_id = f"owner:{c.opportunity_id}:{c.new_owner_id}:{event_id}"
            key = c.opportunity_id.encode()
            tx.emit(partition, self.changes_topic, key, _encode(record), output_id)
            tx.after_commit(self.ctx.metrics.owner_changes.labels(c.reason).inc)
