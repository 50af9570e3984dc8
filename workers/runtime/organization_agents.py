"""The organization join, on the `organizations` engine.

Organizations are keyed by organization id: a contact's membership comes to the
organization's partition (`dealstream.org-membership`), and the organization's fields go back
to each member's partition (`dealstream.org-fields`), where scoring re-scores the contact. A
join built in the stream, no Redis involved; every hop is an engine output (sent once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from schemas.records import OrganizationDeleted, OrganizationUpserted
from workers.engine.transaction import Transaction
from workers.ingest.decoder import Decoded
from workers.runtime.context import AppContext
from workers.runtime.engine_io import decoded
from workers.runtime.engines import Engines
from workers.runtime.tables import json_table, raw_topic
from workers.scoring.signals import OrgFields, OrgMembership
from workers.topics.internal import ORG_FIELDS, ORG_MEMBERSHIP

log = logging.getLogger(__name__)

GROUP = "organizations"
_encode = msgspec.json.Encoder().encode


class OrganizationRuntime:
    def __init__(self, ctx: AppContext, engines: Engines) -> None:
        self.ctx = ctx
        app, settings = ctx.app, ctx.settings
        self.table = engines.table(
            GROUP, json_table(app, settings, "organizations", "Organization fields and members")
        )
        engines.input(GROUP, ORG_MEMBERSHIP)
        self.fields_topic = engines.output(GROUP, ORG_FIELDS)
        raw_topic(app, settings, ORG_FIELDS)
        membership = raw_topic(app, settings, ORG_MEMBERSHIP)

        engines.agent(GROUP, membership, "org-membership", self._memberships)

    def _organization(self, tx: Transaction, partition: int, org_id: str) -> dict[str, Any]:
        """An organization's fields and members (empty until its first event or member)."""
        found: dict[str, Any] | None = tx.get(self.table.name, partition, org_id)
        return found or {"fields": {}, "updated_at": 0.0, "members": []}

    def on_organization(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        change: OrganizationUpserted | OrganizationDeleted = decoded.event  # type: ignore[assignment]
        org = self._organization(tx, partition, decoded.key)
        at = decoded.at
        if at < org["updated_at"]:
            return
        fields = {} if isinstance(change, OrganizationDeleted) else dict(change.fields)
        org = {**org, "fields": fields, "updated_at": at, "event_id": change.event_id}
        tx.put(self.table.name, partition, decoded.key, org)
        for contact in org["members"]:
            self._send_fields(tx, partition, contact, decoded.key, org, change.event_id)

    def _memberships(self, events: list[Any]) -> Callable[[Transaction], None]:
        def work(tx: Transaction) -> None:
            for event, m in decoded(events, OrgMembership, "membership"):
                partition = event.message.partition
                org = self._organization(tx, partition, m.organization_id)
                members = [c for c in org["members"] if c != m.contact_id]
                if m.member:
                    members.append(m.contact_id)
                org = {**org, "members": members}
                tx.put(self.table.name, partition, m.organization_id, org)
                if m.member and org["updated_at"]:
                    cause = f"joined@{m.at}"
                    self._send_fields(tx, partition, m.contact_id, m.organization_id, org, cause)

        return work

    def _send_fields(
        self, tx: Transaction, partition: int, contact: str, org_id: str, org: dict[str, Any],
        cause: str,
    ) -> None:  # fmt: skip
        body = OrgFields(
            organization_id=org_id,
            contact_id=contact,
            fields=org["fields"],
            at=org["updated_at"],
            event_id=org.get("event_id"),
        )
        output_id = f"fields:{org_id}:{contact}:{cause}"
        tx.emit(partition, self.fields_topic, contact.encode(), _encode(body), output_id)
